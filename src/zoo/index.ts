/** The model zoo: CNN builders with seeded PyTorch-default initialisation, by architecture name. */
import type { Graph } from '../graph/index.js';
import type { ImageShape } from '../data/index.js';
import { ProactError } from '../util/errors.js';
import { CIFAR_SHAPE, MNIST_SHAPE, alexnetCifar, lenet5, mobilenetV2Cifar, resnet20, vgg16Cifar, type ZooOptions } from './models.js';

export { NetBuilder, type ConvSpec, type InitScheme } from './builder.js';
export { CIFAR_SHAPE, MNIST_SHAPE, alexnetCifar, lenet5, mobilenetV2Cifar, resnet20, resnet50Cifar, vgg16Cifar, type ZooOptions } from './models.js';

export type ArchName = 'lenet5' | 'alexnet-cifar' | 'vgg16-cifar' | 'resnet20' | 'mobilenetv2-cifar';

export interface ArchInfo {
  name: ArchName;
  description: string;
  /** The input the architecture was designed for. */
  inputShape: ImageShape;
  build(o?: ZooOptions): Graph;
}

export const ARCHS: Record<ArchName, ArchInfo> = {
  lenet5: { name: 'lenet5', description: 'LeNet-5 (ReLU, max-pool) for MNIST, 61,706 parameters', inputShape: MNIST_SHAPE, build: lenet5 },
  'alexnet-cifar': { name: 'alexnet-cifar', description: 'AlexNet, CIFAR layout of the ProAct reference', inputShape: CIFAR_SHAPE, build: alexnetCifar },
  'vgg16-cifar': { name: 'vgg16-cifar', description: 'VGG-16 (config D) for CIFAR, one Linear 512-10', inputShape: CIFAR_SHAPE, build: vgg16Cifar },
  resnet20: { name: 'resnet20', description: 'CIFAR ResNet-20 with option-A shortcuts, no BatchNorm', inputShape: CIFAR_SHAPE, build: resnet20 },
  'mobilenetv2-cifar': { name: 'mobilenetv2-cifar', description: 'MobileNetV2 for 32x32 inputs, ReLU6 as Clip(0, 6), depthwise convs, no BatchNorm', inputShape: CIFAR_SHAPE, build: mobilenetV2Cifar },
};

/** Other names accepted for an architecture. */
const ALIASES: Record<string, ArchName> = { lenet: 'lenet5', 'lenet-5': 'lenet5', alexnet: 'alexnet-cifar', vgg16: 'vgg16-cifar', 'resnet-20': 'resnet20', mobilenetv2: 'mobilenetv2-cifar' };

/** The architecture called `name` (or one of its aliases), or a ProactError listing the known ones. */
export function archInfo(name: string): ArchInfo {
  const key = (name in ARCHS ? name : ALIASES[name]) as ArchName | undefined;
  if (!key) throw new ProactError(`architecture '${name}' is unknown: use one of ${Object.keys(ARCHS).join(', ')} (or lenet, alexnet, vgg16)`);
  return ARCHS[key];
}

/** Builds architecture `name` with seeded initial weights. */
export function buildModel(name: string, o: ZooOptions = {}): Graph {
  return archInfo(name).build(o);
}
