/** onnxruntime-node, loaded with telemetry off (src/runtime/telemetry.ts): the one way proact imports it. */
import './telemetry.js';
import ort from 'onnxruntime-node';

export default ort;
