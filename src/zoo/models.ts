/**
 * The model zoo: CNNs of the ProAct paper's experiments (and a LeNet for the built-in MNIST), as IR
 * graphs with input `input` [batch, C, H, W] (pixels in [0, 1], no normalisation, as the paper-era
 * models) and output `logits` [batch, classes]. Every Relu is an activation layer that hardening can
 * replace. No BatchNorm: these are the layouts an accelerator stores, and training stays in the ops
 * the autodiff supports.
 */
import type { Graph } from '../graph/index.js';
import type { ImageShape } from '../data/index.js';
import { ProactError } from '../util/errors.js';
import { NetBuilder, type InitScheme } from './builder.js';

export interface ZooOptions {
  /** Seed of the initial weights (default 0). */
  seed?: number;
  /** Number of classes (default 10). */
  numClasses?: number;
  /** Input [channels, height, width] (default: the architecture's dataset, MNIST or CIFAR). */
  inputShape?: ImageShape;
  /** Weight initialisation (default per architecture: `kaiming` for vgg16-cifar, `torch` otherwise). */
  init?: InitScheme;
}

export const MNIST_SHAPE: ImageShape = [1, 28, 28];
export const CIFAR_SHAPE: ImageShape = [3, 32, 32];

/**
 * LeNet-5 with ReLU and max-pooling (LeCun et al. 1998, modernised): conv 5x5 6 (pad 2) - relu -
 * maxpool 2 - conv 5x5 16 - relu - maxpool 2 - fc 120 - relu - fc 84 - relu - fc classes.
 * 61,706 parameters on MNIST.
 */
export function lenet5(o: ZooOptions = {}): Graph {
  const seed = o.seed ?? 0;
  const b = new NetBuilder('lenet5', o.inputShape ?? MNIST_SHAPE, seed, o.init ?? 'torch');
  let x = b.conv('input', { name: 'conv1', out: 6, kernel: 5, pad: 2 });
  x = b.maxPool(b.relu(x, 'relu1'), 'pool1');
  x = b.conv(x, { name: 'conv2', out: 16, kernel: 5 });
  x = b.maxPool(b.relu(x, 'relu2'), 'pool2');
  x = b.flatten(x, 'flatten');
  x = b.relu(b.linear(x, 'fc1', 120), 'relu3');
  x = b.relu(b.linear(x, 'fc2', 84), 'relu4');
  return b.finish(b.linear(x, 'fc3', o.numClasses ?? 10, 'logits'), 'lenet5', seed);
}

/**
 * AlexNet in the CIFAR layout of the ProAct reference: five 3x3 convs (64 stride 2 pad 1, 192 pad 2,
 * 384, 256, 256 pad 1), max-pools 2x2 after the first, second and fifth, then FC 1024-4096-4096-classes.
 * Activation maps of one 32x32 sample: 64x16x16, 192x10x10, 384x5x5, 256x5x5, 256x5x5, 4096, 4096
 * (66,176 elements; the parameter names follow torch's `features.k` / `classifier.k`).
 */
export function alexnetCifar(o: ZooOptions = {}): Graph {
  const seed = o.seed ?? 0;
  const b = new NetBuilder('alexnet-cifar', o.inputShape ?? CIFAR_SHAPE, seed, o.init ?? 'torch');
  let x = b.relu(b.conv('input', { name: 'features.0', out: 64, kernel: 3, stride: 2, pad: 1 }), 'features.1');
  x = b.maxPool(x, 'features.2');
  x = b.relu(b.conv(x, { name: 'features.3', out: 192, kernel: 3, pad: 2 }), 'features.4');
  x = b.maxPool(x, 'features.5');
  x = b.relu(b.conv(x, { name: 'features.6', out: 384, kernel: 3, pad: 1 }), 'features.7');
  x = b.relu(b.conv(x, { name: 'features.8', out: 256, kernel: 3, pad: 1 }), 'features.9');
  x = b.relu(b.conv(x, { name: 'features.10', out: 256, kernel: 3, pad: 1 }), 'features.11');
  x = b.flatten(b.maxPool(x, 'features.12'), 'flatten');
  x = b.relu(b.linear(x, 'classifier.0', 4096), 'classifier.1');
  x = b.relu(b.linear(x, 'classifier.2', 4096), 'classifier.3');
  return b.finish(b.linear(x, 'classifier.4', o.numClasses ?? 10, 'logits'), 'alexnet-cifar', seed);
}

/** VGG configuration D (Simonyan and Zisserman 2015): conv widths, 'M' for a 2x2 max-pool. */
const VGG16_CONFIG: (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];

/**
 * VGG-16 for CIFAR: configuration D, 3x3 convs with bias (pad 1), five max-pools, one Linear 512-classes.
 * 13 activation layers; on 32x32 inputs their maps hold 276,480 elements, the last 512x2x2.
 * Initialised He-uniform by default: 14 layers without BatchNorm do not train from PyTorch's defaults.
 */
export function vgg16Cifar(o: ZooOptions = {}): Graph {
  const seed = o.seed ?? 0;
  const b = new NetBuilder('vgg16-cifar', o.inputShape ?? CIFAR_SHAPE, seed, o.init ?? 'kaiming');
  let x = 'input';
  let k = 0;
  for (const layer of VGG16_CONFIG) {
    if (layer === 'M') x = b.maxPool(x, `features.${k++}`);
    else {
      x = b.conv(x, { name: `features.${k++}`, out: layer, kernel: 3, pad: 1 });
      x = b.relu(x, `features.${k++}`);
    }
  }
  x = b.flatten(x, 'flatten');
  return b.finish(b.linear(x, 'classifier', o.numClasses ?? 10, 'logits'), 'vgg16-cifar', seed);
}

/**
 * ResNet-20 for CIFAR (He et al. 2016, section 4.2): conv 3x3 16, then three stages of three basic
 * blocks (16, 32, 64 channels; the first block of stages 2 and 3 has stride 2 and an option-A
 * shortcut: stride-2 slice plus zero channels), global average pool, Linear 64-classes. Convs carry a
 * bias and there is no BatchNorm (the layout of a BN-folded export). 19 activation layers.
 */
export function resnet20(o: ZooOptions = {}): Graph {
  const seed = o.seed ?? 0;
  const b = new NetBuilder('resnet20', o.inputShape ?? CIFAR_SHAPE, seed, o.init ?? 'torch');
  let x = b.relu(b.conv('input', { name: 'conv1', out: 16, kernel: 3, pad: 1 }), 'relu');
  let channels = 16;
  for (const [stage, width] of [16, 32, 64].entries()) {
    for (let block = 0; block < 3; block++) {
      const name = `layer${stage + 1}.${block}`;
      const stride = stage > 0 && block === 0 ? 2 : 1;
      let y = b.relu(b.conv(x, { name: `${name}.conv1`, out: width, kernel: 3, stride, pad: 1 }), `${name}.relu1`);
      y = b.conv(y, { name: `${name}.conv2`, out: width, kernel: 3, pad: 1 });
      const shortcut = stride !== 1 || channels !== width ? b.shortcutA(x, `${name}.shortcut`, width) : x;
      x = b.relu(b.add(y, shortcut, `${name}.add`), `${name}.relu2`);
      channels = width;
    }
  }
  x = b.flatten(b.globalAveragePool(x, 'avgpool'), 'flatten');
  return b.finish(b.linear(x, 'linear', o.numClasses ?? 10, 'logits'), 'resnet20', seed);
}

/**
 * ResNet-50 for CIFAR, the layout of the ProAct reference's `ResNet50` (rrelu/models_cifar/resnets.py,
 * after kuangliu's pytorch-cifar): conv 3x3 64 (stride 1, no max-pool), four stages of bottleneck
 * blocks [3, 4, 6, 3] with 64, 128, 256, 512 planes (1x1 - ReLU - 3x3 with the stage's stride - ReLU -
 * 1x1 to 4x planes, plus a 1x1 projection shortcut where the stride or width changes), ReLU after each
 * residual add, global average pool, Linear 2048-classes. Convs carry a bias and there is no BatchNorm
 * (a BN-folded layout). 49 activation layers (the stem's, which the reference applies as F.relu and so
 * never replaces, included), 2,940,928 elements on 32x32 inputs, the last 2048x4x4.
 * Shape-only in this project: no trained weights exist, and it is not a `proact train` architecture
 * (23.5 M parameters); it serves threshold-memory counts (bench/claims.ts).
 */
export function resnet50Cifar(o: ZooOptions = {}): Graph {
  const seed = o.seed ?? 0;
  const b = new NetBuilder('resnet50-cifar', o.inputShape ?? CIFAR_SHAPE, seed, o.init ?? 'torch');
  let x = b.relu(b.conv('input', { name: 'conv1', out: 64, kernel: 3, pad: 1 }), 'relu');
  let channels = 64;
  for (const [stage, [planes, blocks]] of ([[64, 3], [128, 4], [256, 6], [512, 3]] as const).entries()) {
    for (let block = 0; block < blocks; block++) {
      const name = `layer${stage + 1}.${block}`;
      const stride = stage > 0 && block === 0 ? 2 : 1;
      let y = b.relu(b.conv(x, { name: `${name}.conv1`, out: planes, kernel: 1 }), `${name}.relu1`);
      y = b.relu(b.conv(y, { name: `${name}.conv2`, out: planes, kernel: 3, stride, pad: 1 }), `${name}.relu2`);
      y = b.conv(y, { name: `${name}.conv3`, out: 4 * planes, kernel: 1 });
      const shortcut = stride !== 1 || channels !== 4 * planes ? b.conv(x, { name: `${name}.shortcut.0`, out: 4 * planes, kernel: 1, stride }) : x;
      x = b.relu(b.add(y, shortcut, `${name}.add`), `${name}.relu3`);
      channels = 4 * planes;
    }
  }
  x = b.flatten(b.globalAveragePool(x, 'avgpool'), 'flatten');
  return b.finish(b.linear(x, 'linear', o.numClasses ?? 10, 'logits'), 'resnet50-cifar', seed);
}

/** MobileNetV2 inverted-residual stages: expansion t, output channels c, blocks n, first stride s. */
const MOBILENETV2_CIFAR_CONFIG: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 1], // stride 2 in the ImageNet layout; 1 for 32x32 inputs (as the common CIFAR ports)
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/**
 * MobileNetV2 for CIFAR (Sandler et al. 2018, 32x32 layout): conv 3x3 32 (stride 1), 17 inverted
 * residual blocks (1x1 expansion - ReLU6 - 3x3 depthwise - ReLU6 - 1x1 linear projection, with an
 * identity shortcut when stride 1 and the width is unchanged), conv 1x1 1280 - ReLU6, global average
 * pool, Linear 1280-classes. The two stride-2 steps of the ImageNet stem are stride 1 here, so the
 * last maps are 4x4. ReLU6 is Clip(0, 6), as torch exports it: 35 activation layers, as torchvision's.
 * Convs carry a bias and there is no BatchNorm (the layout of a BN-folded export), He-uniform init.
 * Parameter names follow torchvision (`features.<i>.conv.<j>`). `width` scales every width as
 * torchvision's width_mult (multiples of 8; the last conv keeps 1280 for width <= 1); 0.25 makes the
 * small fixture the tests harden with every method.
 */
export function mobilenetV2Cifar(o: ZooOptions & { width?: number } = {}): Graph {
  const seed = o.seed ?? 0;
  const width = o.width ?? 1;
  if (!(width > 0 && width <= 4)) throw new ProactError(`mobilenetv2-cifar: width multiplier ${width} must be in (0, 4]`);
  // torchvision's _make_divisible: channels a multiple of 8, never 10% below the scaled width.
  const scaled = (c: number) => {
    const v = Math.max(8, Math.floor((c * width + 4) / 8) * 8);
    return v < 0.9 * c * width ? v + 8 : v;
  };
  const b = new NetBuilder('mobilenetv2-cifar', o.inputShape ?? CIFAR_SHAPE, seed, o.init ?? 'kaiming');
  let channels = scaled(32);
  let x = b.relu6(b.conv('input', { name: 'features.0.0', out: channels, kernel: 3, pad: 1 }), 'features.0.2');
  let index = 1;
  for (const [t, c0, n, s] of MOBILENETV2_CIFAR_CONFIG) {
    const c = scaled(c0);
    for (let k = 0; k < n; k++) {
      const name = `features.${index++}.conv`;
      const stride = k === 0 ? s : 1;
      const hidden = channels * t;
      let y = x;
      let j = 0;
      if (t !== 1) y = b.relu6(b.conv(y, { name: `${name}.${j}.0`, out: hidden, kernel: 1 }), `${name}.${j++}.2`);
      y = b.relu6(b.conv(y, { name: `${name}.${j}.0`, out: hidden, kernel: 3, stride, pad: 1, groups: hidden }), `${name}.${j++}.2`);
      y = b.conv(y, { name: `${name}.${j}`, out: c, kernel: 1 });
      x = stride === 1 && channels === c ? b.add(y, x, `${name}.add`) : y;
      channels = c;
    }
  }
  x = b.relu6(b.conv(x, { name: `features.${index}.0`, out: width > 1 ? scaled(1280) : 1280, kernel: 1 }), `features.${index}.2`);
  x = b.flatten(b.globalAveragePool(x, 'avgpool'), 'flatten');
  return b.finish(b.linear(x, 'classifier.1', o.numClasses ?? 10, 'logits'), 'mobilenetv2-cifar', seed);
}
