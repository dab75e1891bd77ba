// Short fuzz run of the model readers (readOnnx + prepareGraph + fault surface); see test/fuzz/check.ts.
import { fuzzTest } from './check.js';

fuzzTest({ target: 'onnx-bytes', cases: 1500, seedsValid: true });
fuzzTest({ target: 'onnx-resnet20', cases: 60, seedsValid: true });
fuzzTest({ target: 'onnx-proto', cases: 1200, seedsValid: true });
fuzzTest({ target: 'onnx-graphs', cases: 1000, seedsValid: true });
