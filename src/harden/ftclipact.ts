/**
 * FT-ClipAct (Hoang et al., DATE 2020): a layer-wise `clip-zero` threshold per activation layer, found
 * by fault injection (docs/hardening.md, "FT-ClipAct"). The slow, fault-injection-driven baseline.
 *
 * Start: every layer clipped to zero at its profiled maximum (Ranger, clip-zero), as the reference.
 * Then, layer by layer in execution order, with the other layers at their current thresholds:
 *   1. interval [lo, hi] = [0, layer max];
 *   2. `candidates` evenly spaced thresholds from lo to hi (both included);
 *   3. score each by the area under its accuracy-vs-BER curve on a *uniform* x-axis (the BERs are
 *      equally spaced points, as the reference's np.trapz over [0.2, 0.4, ..., 1]); we report the
 *      area divided by its width, i.e. the mean height, an accuracy in [0, 1];
 *   4. narrow to the neighbours of the best candidate ([T0, T1] if the first is best, [T(n-2), T(n-1)]
 *      if the last, [T(i-1), T(i+1)] otherwise) and repeat, up to `rounds` rounds; stop early after
 *      `minRounds` rounds once all adjacent scores differ by at most `tolerance`;
 *   5. the layer keeps the best candidate of the last round.
 *
 * Two modes (`mode`), which differ only in what a candidate is scored on:
 * - `toolbox` (default), the reference toolbox's procedure: every layer clipped (at its profiled
 *   maximum, or at the T already chosen for it), faults anywhere in the fault surface;
 * - `paper`, FT-ClipAct as published (and, by the project's review of method.md, as the paper-era
 *   reference ran it; the toolbox history we can read starts in 2025 with the toolbox procedure): the
 *   base model is unprotected, only layer i is clipped while layer i is searched, and faults hit only
 *   layer i (the conv/linear layers feeding activation i directly, and its threshold when thresholds
 *   are in the surface). The layers are searched independently; the hardened model clips every layer
 *   at its T.
 *
 * Each score comes from in-process fault-injection trials (makeFaultable + FaultPlanner + runTrial):
 * `repetitions` fault patterns per BER on `images` training images. Every candidate of every layer
 * sees the same fault positions for the same (BER, repetition) (common random numbers: the surfaces
 * differ only in one threshold value), so differences between candidates are not sampling noise of
 * the fault patterns, and a score computed once is reused when a candidate reappears as an interval
 * end in the next round (the reference recomputes it with fresh faults).
 */
import { ProactError } from '../util/errors.js';
import { activationLayers, parameterLayers, type Graph } from '../graph/index.js';
import type { Dataset } from '../data/index.js';
import { FaultPlanner, checkBer, resolveFaultModel, type FaultModelInput, type SurfaceKind } from '../faults/index.js';
import { Session } from '../runtime/index.js';
import { TrialPool, makeFaultable, predictAll, type EvalSet, type TrialContext, type TrialTask } from '../campaign/index.js';
import { graphAccuracy } from './accuracy.js';
import { checkProfileMatches, profilingSubset } from './profile.js';
import { applyThresholds, thresholdName } from './thresholds.js';
import type { Decision, HardenData, HardenOutcome, LayerThresholds, Profile } from './types.js';

export interface FtClipActBudget {
  /** Bit error rates of the score's curve. */
  bers: number[];
  /** Fault patterns per BER and candidate. */
  repetitions: number;
  /** Evenly spaced thresholds per round (ends included). */
  candidates: number;
  /** Maximum rounds per layer. */
  rounds: number;
  /** Rounds before the early stop may apply. */
  minRounds: number;
  /** Early stop when every adjacent pair of scores differs by at most this (accuracy, 0..1). */
  tolerance: number;
  /** Training images each trial is evaluated on. */
  images: number;
}

/**
 * The reference's budget. bers, candidates (4), rounds (N = 4), minRounds (M = 3) are the toolbox's
 * FtClipAct_bounds defaults; repetitions 20 is the figure of the method description (../shared/docs/method.md) (the toolbox code itself runs
 * fault_simulation_epochs = 5); tolerance: the toolbox's delta_b = 0.2 is in percent x (x-step 0.2)
 * units on its 4-interval axis, i.e. 0.2 / 0.8 = 0.25 points = 0.0025 of our mean-height score.
 * images: the toolbox uses its whole `sub_train` loader; 1000 stands for that here.
 */
/** What the search's faults hit by default: the model's weights, biases and the clipping thresholds (no weight bounds). */
export const FTCLIPACT_SURFACE: readonly SurfaceKind[] = ['weight', 'bias', 'threshold'];

export const FTCLIPACT_REFERENCE: Readonly<FtClipActBudget> = {
  bers: [1e-7, 1e-6, 3e-6, 1e-5, 3e-5],
  repetitions: 20,
  candidates: 4,
  rounds: 4,
  minRounds: 3,
  tolerance: 0.0025,
  images: 1000,
};

/**
 * Our default: the reference's search (BERs, 4 candidates, up to 4 rounds) with fewer repetitions and
 * images, so that ResNet-20 (19 layers) takes minutes, not hours, on 2 cores.
 */
export const FTCLIPACT_DEFAULTS: Readonly<FtClipActBudget> = {
  ...FTCLIPACT_REFERENCE,
  repetitions: 5,
  images: 256,
};

export interface FtClipActProgress {
  /** Activation layer being searched, and its position among the searched layers. */
  layer: number;
  position: number;
  searched: number;
  round: number;
  /** Trials run for this layer so far and the most it can need. */
  trialsDone: number;
  trialsPlanned: number;
  /** Set when the layer's search is over. */
  chosen?: number;
}

export const FTCLIPACT_MODES = ['toolbox', 'paper'] as const;
/** `toolbox`: all layers clipped, faults everywhere; `paper`: only layer i clipped and faulted (see the module comment). */
export type FtClipActMode = (typeof FTCLIPACT_MODES)[number];

export interface FtClipActOptions extends Partial<FtClipActBudget> {
  /** What a candidate is scored on (default 'toolbox'). */
  mode?: FtClipActMode;
  /** Activation layers to search (default all); the others stay at their profiled maxima. */
  layers?: number[];
  /** Seed of the training-image subset and of the fault patterns (default 0). */
  seed?: number;
  /**
   * The fault model of the search's trials (defaults: DEFAULT_FAULT_MODEL, but the surface defaults to
   * FTCLIPACT_SURFACE). Its BatchNorm handling is not used: the search injects into the graph as given.
   */
  faults?: FaultModelInput;
  threads?: number;
  /** Worker threads for trials (default 1: in process). */
  workers?: number;
  batchSize?: number;
  onProgress?: (p: FtClipActProgress) => void;
}

/** Area under `values` on a uniform x-axis (trapezoids of width 1), divided by its width: the mean height. */
export function uniformAuc(values: readonly number[]): number {
  if (values.length === 0) throw new ProactError('AUC: no values');
  if (values.length === 1) return values[0]!;
  let area = 0;
  for (let i = 1; i < values.length; i++) area += (values[i - 1]! + values[i]!) / 2;
  return area / (values.length - 1);
}

/** `n` evenly spaced float32 thresholds from lo to hi, both included. */
export function evenlySpaced(lo: number, hi: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.fround(i === n - 1 ? hi : lo + ((hi - lo) * i) / (n - 1)));
}

/** The interval around candidate `best` (the reference's Interval_Search). */
export function narrowInterval(candidates: readonly number[], best: number): [number, number] {
  const n = candidates.length;
  if (best === 0) return [candidates[0]!, candidates[1]!];
  if (best === n - 1) return [candidates[n - 2]!, candidates[n - 1]!];
  return [candidates[best - 1]!, candidates[best + 1]!];
}

/** Index of the first maximum (as torch.argmax). */
function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function checkBudget(b: FtClipActBudget): void {
  if (b.bers.length === 0) throw new ProactError('ftclipact: give at least one BER');
  for (const ber of b.bers) checkBer(ber);
  const int = (v: number, min: number, name: string) => {
    if (!Number.isInteger(v) || v < min) throw new ProactError(`ftclipact: ${name} = ${v}; expected an integer >= ${min}`);
  };
  int(b.repetitions, 1, 'repetitions');
  int(b.candidates, 3, 'candidates');
  int(b.rounds, 1, 'rounds');
  int(b.minRounds, 1, 'minRounds');
  int(b.images, 1, 'images');
  if (!(b.tolerance >= 0 && Number.isFinite(b.tolerance))) throw new ProactError(`ftclipact: tolerance = ${b.tolerance}; expected a number >= 0 (accuracy units, e.g. 0.0025)`);
}

/**
 * Per activation layer, the stored weights and biases of the conv/linear layers that feed it directly:
 * found backwards from the activation's input through parameter-free nodes, stopping at a conv/linear
 * layer and at the output of another activation (a residual shortcut carries an earlier activation,
 * whose layers are not this layer's). In a ResNet block the second ReLU gets the block's second conv.
 */
export function layersFeedingActivations(graph: Graph): string[][] {
  const acts = activationLayers(graph);
  const producers = graph.producers();
  const params = new Map(parameterLayers(graph).map((l) => [l.node.name, l] as const));
  const activationOutputs = new Set(acts.map((a) => a.output));
  return acts.map((a) => {
    const names: string[] = [];
    const seen = new Set<string>();
    const stack = [a.input];
    while (stack.length > 0) {
      const value = stack.pop()!;
      if (seen.has(value) || activationOutputs.has(value)) continue;
      seen.add(value);
      const p = producers.get(value);
      if (!p) continue;
      const layer = params.get(p.name);
      if (layer) {
        names.push(layer.weight, ...(layer.bias ? [layer.bias] : []));
        continue;
      }
      for (const input of p.inputs) if (input) stack.push(input);
    }
    return names;
  });
}

/** What one candidate is scored on: the clipped model, and the names of the tensors its faults may hit (undefined: the whole surface). */
export interface CandidateModel {
  graph: Graph;
  faulted: ReadonlySet<string> | undefined;
}

/**
 * The model a candidate threshold `threshold` of activation layer `layer` is scored on. toolbox: every
 * layer clipped at `current` with layer `layer` at the candidate, faults anywhere; paper: only layer
 * `layer` clipped, faults only in `feeding[layer]` and its threshold.
 */
export function candidateModel(graph: Graph, profile: Profile, mode: FtClipActMode, current: readonly number[], layer: number, threshold: number, feeding: readonly string[][]): CandidateModel {
  const values = [...current];
  values[layer] = threshold;
  const all = layerThresholds(profile, values);
  if (mode === 'toolbox') return { graph: applyThresholds(graph, all, 'ftclipact'), faulted: undefined };
  return { graph: applyThresholds(graph, [all[layer]!], 'ftclipact'), faulted: new Set([...feeding[layer]!, thresholdName(layer)]) };
}

/** Layer-wise clip-zero thresholds at `values`, one per activation layer. */
function layerThresholds(profile: Profile, values: readonly number[]): LayerThresholds[] {
  return profile.layers.map((p, layer) => ({ layer, node: p.node, kind: 'clip-zero', granularity: 'layer', thresholdName: thresholdName(layer), dims: [], values: Float32Array.of(values[layer]!) }));
}

interface CandidateScore {
  score: number;
  /** Names of the tensors the candidate's faults could hit. */
  faulted: string[];
  clean: number;
  perBer: number[];
}

/** The decoded evaluation images, once. */
function decode(ds: Dataset): EvalSet {
  const b = ds.read(0, ds.count);
  return { x: b.x, labels: b.labels, count: ds.count, shape: ds.shape };
}

/** Searches FT-ClipAct thresholds for `graph` (prepared, unclipped) by fault injection. */
export async function hardenFtClipAct(graph: Graph, data: HardenData, profile: Profile, opts: FtClipActOptions = {}): Promise<HardenOutcome> {
  const t0 = performance.now();
  const budget: FtClipActBudget = {
    bers: opts.bers ?? FTCLIPACT_DEFAULTS.bers,
    repetitions: opts.repetitions ?? FTCLIPACT_DEFAULTS.repetitions,
    candidates: opts.candidates ?? FTCLIPACT_DEFAULTS.candidates,
    rounds: opts.rounds ?? FTCLIPACT_DEFAULTS.rounds,
    minRounds: opts.minRounds ?? FTCLIPACT_DEFAULTS.minRounds,
    tolerance: opts.tolerance ?? FTCLIPACT_DEFAULTS.tolerance,
    images: opts.images ?? FTCLIPACT_DEFAULTS.images,
  };
  checkBudget(budget);
  const seed = opts.seed ?? 0;
  const faults = resolveFaultModel({ surface: FTCLIPACT_SURFACE, ...opts.faults });
  // The search scores thresholds with weight-fault trials run whole; activation faults need the segmented runs of a campaign.
  if (faults.activations.length > 0) throw new ProactError(`ftclipact: --surface ${faults.activations.join(',')}: the threshold search injects into stored tensors only; drop the activation layers from --surface`);
  const threads = opts.threads ?? 1;
  const batchSize = opts.batchSize ?? 128;
  const workers = opts.workers ?? 1;
  checkProfileMatches(profile, graph);
  const nLayers = profile.layers.length;
  const searchLayers = opts.layers ?? profile.layers.map((_, k) => k);
  for (const l of searchLayers)
    if (!Number.isInteger(l) || l < 0 || l >= nLayers) throw new ProactError(`ftclipact: layer ${l} does not exist; the model has ${nLayers} activation layers (0..${nLayers - 1})`);

  const mode = opts.mode ?? 'toolbox';
  if (!(FTCLIPACT_MODES as readonly string[]).includes(mode)) throw new ProactError(`ftclipact: mode '${String(mode)}' is unknown; use ${FTCLIPACT_MODES.join(' or ')}`);
  const feeding = mode === 'paper' ? layersFeedingActivations(graph) : [];

  const evalSet = decode(profilingSubset(data.train, budget.images, seed));
  const current = profile.layers.map((p) => Math.fround(p.layerMax));

  let imagesProcessed = profile.images;
  const decisions: Decision[] = [];
  const trialsPerCandidate = budget.bers.length * budget.repetitions;
  const trialsPlanned = trialsPerCandidate * (budget.candidates + (budget.rounds - 1) * (budget.candidates - 2));

  /** Mean accuracy under faults, per BER, of the candidate's model (candidateModel). */
  const scoreOf = async (layer: number, threshold: number, onTrial: () => void): Promise<CandidateScore> => {
    const candidate = candidateModel(graph, profile, mode, current, layer, threshold, feeding);
    const faultable = makeFaultable(candidate.graph, { format: faults.format, kinds: faults.surface, referenceSurface: faults.referenceSurface });
    const faulted = candidate.faulted;
    const faultSurface = faulted ? faultable.surface.filter((t) => faulted.has(t.name)) : faultable.surface;
    // Paper mode on a surface of scalar thresholds alone, immune under the reference surface, would inject nothing.
    if (faultSurface.every((t) => t.scalarThreshold === true && faults.referenceSurface))
      throw new ProactError(`ftclipact --fi-mode paper: activation layer ${layer} ('${profile.layers[layer]!.node}') has no conv/linear weights feeding it in the fault surface (${faults.surface.join(',')}${faults.referenceSurface ? ', scalar thresholds immune' : ''}); add weight,bias to --surface or use --fi-mode toolbox`);
    const cleanSession = await Session.create(faultable.bytes, { threads });
    const clean = await predictAll(cleanSession, evalSet, batchSize).finally(() => cleanSession.release());
    imagesProcessed += evalSet.count;
    const planner = new FaultPlanner(faultSurface, { seed, faults });
    const context: TrialContext = {
      bytes: faultable.bytes,
      offsets: faultable.offsets,
      evalSet,
      cleanPredictions: clean.predictions,
      clean: { accuracy: clean.correct / evalSet.count, due: clean.nonFinite / evalSet.count },
      batchSize,
      threads,
      seed,
    };
    const refs: { ber: number; trial: number }[] = [];
    for (const ber of budget.bers) for (let t = 0; t < budget.repetitions; t++) refs.push({ ber, trial: t });
    const sums = new Map<number, number>();
    const pool = await TrialPool.start(context, workers);
    try {
      await pool.run(refs, (ref): TrialTask => ({ ...ref, faults: planner.plan(ref.ber, ref.trial).faults, images: evalSet.count }), (o) => {
        sums.set(o.ber, (sums.get(o.ber) ?? 0) + o.accuracy);
        if (o.faults > 0) imagesProcessed += evalSet.count;
        onTrial();
      });
    } finally {
      await pool.close();
    }
    const perBer = budget.bers.map((b) => sums.get(b)! / budget.repetitions);
    return { score: uniformAuc(perBer), clean: context.clean.accuracy, perBer, faulted: faultSurface.map((t) => t.name) };
  };

  for (const [position, layer] of searchLayers.entries()) {
    const node = profile.layers[layer]!.node;
    const cache = new Map<number, CandidateScore>();
    let trialsDone = 0;
    let [lo, hi] = [0, current[layer]!];
    let chosen = hi;
    let chosenDecision: Decision | undefined;
    for (let round = 1; round <= budget.rounds; round++) {
      const candidates = evenlySpaced(lo, hi, budget.candidates);
      const scores: number[] = [];
      const roundDecisions: Decision[] = [];
      for (const threshold of candidates) {
        let s = cache.get(threshold);
        const reused = s !== undefined;
        if (!s) {
          s = await scoreOf(layer, threshold, () => {
            trialsDone++;
            opts.onProgress?.({ layer, position, searched: searchLayers.length, round, trialsDone, trialsPlanned });
          });
          cache.set(threshold, s);
        }
        scores.push(s.score);
        const setting: Record<string, number | string> = { round, threshold, lo, hi, clean: s.clean, mode };
        budget.bers.forEach((b, k) => (setting[`accuracy@${b.toExponential(0)}`] = s.perBer[k]!));
        if (mode === 'paper') setting['faulted'] = s.faulted.join(',');
        const d: Decision = { layer, node, setting, accuracy: s.score, accepted: false, note: reused ? 'score reused from the previous round (same faults)' : 'scored' };
        roundDecisions.push(d);
        decisions.push(d);
      }
      const best = argmax(scores);
      chosen = candidates[best]!;
      chosenDecision = roundDecisions[best];
      [lo, hi] = narrowInterval(candidates, best);
      let spread = 0;
      for (let j = 1; j < scores.length; j++) spread = Math.max(spread, Math.abs(scores[j]! - scores[j - 1]!));
      if ((round >= budget.minRounds && spread <= budget.tolerance) || lo === hi) break;
    }
    current[layer] = chosen;
    if (chosenDecision) chosenDecision.accepted = true;
    opts.onProgress?.({ layer, position, searched: searchLayers.length, round: 0, trialsDone, trialsPlanned, chosen });
  }

  const thresholds = layerThresholds(profile, current);
  const hardened = applyThresholds(graph, thresholds, 'ftclipact');
  const validationAccuracy = await graphAccuracy(hardened, data.validation, { threads, batchSize });
  imagesProcessed += data.validation.count;
  return { method: 'ftclipact', graph: hardened, thresholds, decisions, imagesProcessed, seconds: (performance.now() - t0) / 1000, validationAccuracy };
}
