/**
 * Tensors of the IR: a dtype, dims and a typed array in row-major order. Constants (weights, shape
 * arithmetic) live here; activations never do (onnxruntime computes them).
 */
import { ProactBug, ProactError } from '../util/errors.js';

export type DType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'uint16' | 'bool';
export type TensorData =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array;

export interface Tensor {
  dtype: DType;
  dims: number[];
  data: TensorData;
}

/** ONNX TensorProto.DataType codes. */
export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};
const DTYPE_OF_CODE = new Map<number, DType>(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k as DType]));

export function dtypeFromOnnx(code: number, where: string): DType {
  const d = DTYPE_OF_CODE.get(code);
  if (!d) throw new ProactError(`${where}: unsupported tensor data type ${code} (proact handles float32/64, float16, int8-64, uint8/16, bool)`);
  return d;
}

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  uint16: 2,
  bool: 1,
};

export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function allocate(dtype: DType, n: number): TensorData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
    case 'float16':
    case 'uint16':
      return new Uint16Array(n);
  }
}

export function tensor(dtype: DType, dims: number[], values?: ArrayLike<number> | ArrayLike<bigint>): Tensor {
  const data = allocate(dtype, numel(dims));
  if (values) {
    if (data.length !== values.length) throw new ProactBug(`tensor: ${values.length} values for dims [${dims}]`);
    if (data instanceof BigInt64Array) for (let i = 0; i < data.length; i++) data[i] = BigInt(values[i] as number | bigint);
    else for (let i = 0; i < data.length; i++) data[i] = Number(values[i]);
  }
  return { dtype, dims: [...dims], data };
}

export const f32 = (dims: number[], values?: ArrayLike<number>): Tensor => tensor('float32', dims, values);
export const i64 = (values: ArrayLike<number>, dims: number[] = [values.length]): Tensor => tensor('int64', dims, values);
export const scalarF32 = (v: number): Tensor => tensor('float32', [], [v]);

/** The values as plain numbers (int64 converted; fine for shape arithmetic, which is small). */
export function toNumbers(t: Tensor): number[] {
  const out = new Array<number>(t.data.length);
  for (let i = 0; i < t.data.length; i++) out[i] = Number(t.data[i]);
  return out;
}

export function cloneTensor(t: Tensor): Tensor {
  return { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() as TensorData };
}

/** Builds a tensor of `dtype` from plain numbers (used by the constant evaluator). */
export function fromNumbers(dtype: DType, dims: number[], values: number[]): Tensor {
  return tensor(dtype, dims, values);
}
