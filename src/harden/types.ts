/**
 * Types shared by the hardening methods (Ranger, FT-ClipAct, FitAct, ProAct) and the `harden` command.
 * Every method takes the prepared, unclipped model and returns a hardened graph plus a record of what
 * it decided, so the CLI, the report and the campaign treat all methods alike.
 */
import type { Graph } from '../graph/index.js';
import type { Dataset } from '../data/index.js';
import type { ActivationKind, Granularity } from './activations.js';

/** Per activation layer: the exact per-element maximum over the profiling set and the layer maximum. */
export interface LayerProfile {
  /** Activation layer (its last node's name) in the unclipped graph. */
  node: string;
  /** One sample's activation dims ([C,H,W] or [N]). */
  dims: number[];
  /** Per-element maxima, row-major over `dims`. */
  neuronMax: Float32Array;
  /** Per-channel maxima (first axis of `dims`). */
  channelMax: Float32Array;
  layerMax: number;
}

export interface Profile {
  images: number;
  layers: LayerProfile[];
}

/** The thresholds a method chose for one activation layer. */
export interface LayerThresholds {
  /** Index among activation layers, in execution order. */
  layer: number;
  node: string;
  kind: ActivationKind;
  granularity: Granularity;
  /** Initializer name in the hardened graph (`proact.threshold.<layer>`). */
  thresholdName: string;
  dims: number[];
  values: Float32Array;
}

/** One accept/rollback decision of a progressive method (ProAct), or one search step (FT-ClipAct). */
export interface Decision {
  layer: number;
  node: string;
  /** e.g. weight decay tried, or candidate threshold. */
  setting: Record<string, number | string>;
  accuracy: number;
  accepted: boolean;
  note?: string;
}

export interface HardenOutcome {
  method: string;
  graph: Graph;
  thresholds: LayerThresholds[];
  decisions: Decision[];
  /** Images pushed through the network (forward or forward+backward), to compare budgets with the reference. */
  imagesProcessed: number;
  seconds: number;
  /** Clean accuracy of the hardened model on the validation split. */
  validationAccuracy: number;
}

/** Data a method may use: training images (profiling, threshold training) and a held-out validation split. */
export interface HardenData {
  train: Dataset;
  validation: Dataset;
}
