/**
 * onnxruntime 1.30 as bundled writes /tmp/mat-debug-<pid>.log for every process and keeps a telemetry
 * database (a device id, queued events) under ~/.cache/Microsoft/: writes outside what the user named,
 * and network uploads. The library reads ORT_DISABLE_TELEMETRY when it loads, so this module sets it
 * before onnxruntime-node is imported (src/runtime/ort.ts imports this first). PROACT_ORT_TELEMETRY=1 opts
 * back in; a value the user set for ORT_DISABLE_TELEMETRY is kept.
 */
if (process.env.PROACT_ORT_TELEMETRY !== '1' && process.env.ORT_DISABLE_TELEMETRY === undefined) process.env.ORT_DISABLE_TELEMETRY = '1';

export {};
