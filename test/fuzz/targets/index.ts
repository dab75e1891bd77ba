/** Every fuzz target, in report order. */
import type { FuzzTarget } from '../target.js';
import { onnxBytes, onnxGraphs, onnxProtoTarget, onnxResnet20 } from './onnx.js';
import { cifar100Target, cifar10Target, idxGzTarget, idxImagesTarget, idxLabelsTarget, npyImagesTarget, npyLabelsTarget } from './data.js';
import { planTarget } from './plan.js';
import { thresholdsTarget } from './thresholds.js';
import { sqliteTarget } from './sqlite.js';
import { cliTarget } from './cli.js';

export const TARGETS: readonly FuzzTarget[] = [
  onnxBytes,
  onnxResnet20,
  onnxProtoTarget,
  onnxGraphs,
  cifar10Target,
  cifar100Target,
  idxImagesTarget,
  idxLabelsTarget,
  idxGzTarget,
  npyImagesTarget,
  npyLabelsTarget,
  planTarget,
  thresholdsTarget,
  sqliteTarget,
  cliTarget,
];

export function targetByName(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target '${name}' (known: ${TARGETS.map((x) => x.name).join(', ')})`);
  return t;
}
