/** Reads the float32 `.golden256.npy` files of ../shared (little-endian '<f4', C order). Test-only. */
import { readFileSync } from 'node:fs';

export function readGoldenNpy(path: string): { dims: number[]; data: Float32Array } {
  const buf = readFileSync(path);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + headerLen).toString('latin1');
  if (!header.includes("'<f4'")) throw new Error(`${path}: expected float32 data, header ${header}`);
  const shape = /'shape': \(([^)]*)\)/.exec(header)![1]!.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const bytes = buf.subarray(10 + headerLen);
  const data = new Float32Array(bytes.length / 4);
  new Uint8Array(data.buffer).set(bytes);
  return { dims: shape, data };
}

/** First n CIFAR-10 test records as float32 NCHW in [0,1] and labels (record layout of ../shared/README.md). */
export function readCifarRecords(path: string, n: number): { x: Float32Array; labels: Int32Array } {
  const buf = readFileSync(path);
  const x = new Float32Array(n * 3072);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = buf[i * 3073]!;
    for (let k = 0; k < 3072; k++) x[i * 3072 + k] = buf[i * 3073 + 1 + k]! / 255;
  }
  return { x, labels };
}
