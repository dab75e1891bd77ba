/**
 * `proact harden`: replace a model's ReLUs by clipped activations with thresholds from one of the
 * methods (Ranger, FT-ClipAct, FitAct, ProAct) or from a thresholds file, and/or bound the stored
 * weights to their clean ranges (weight-clip, or --weight-clip with any method), and write the
 * hardened ONNX, its thresholds, the decision log and a profile cache beside it.
 * `proact overhead`: the threshold memory each granularity would add to a model, and the weight bounds.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { ProactError, printable } from '../util/errors.js';
import { writeFileAtomic } from '../util/files.js';
import { checkInputFile, guardOutputs } from '../util/outputs.js';
import { prepareGraph, readOnnx, writeOnnx, type Graph } from '../graph/index.js';
import { openDataset, parseValidationSpec, resolveValidation, type Dataset } from '../data/index.js';
import { Session, checkModelContract, checkPlainOnnxruntime } from '../runtime/index.js';
import { sha256 } from '../campaign/index.js';
import { parseFormat } from '../faults/index.js';
import {
  DEFAULT_PROFILE_IMAGES,
  FITACT_DEFAULTS,
  FTCLIPACT_DEFAULTS,
  FTCLIPACT_MODES,
  FTCLIPACT_SURFACE,
  FTCLIPACT_REFERENCE,
  PROACT_DEFAULTS,
  GRANULARITIES,
  WEIGHT_CLIP_GRANULARITIES,
  addWeightBounds,
  checkWeightMargin,
  applyThresholds,
  checkClippable,
  countThresholdValues,
  graphAccuracy,
  graphOverhead,
  hardenFitAct,
  hardenFtClipAct,
  hardenProAct,
  hardenRanger,
  hardenWeightClip,
  loadCachedProfile,
  profileActivations,
  quantisedModel,
  readThresholdsFile,
  saveProfile,
  thresholdsToJSON,
  type FitActOptions,
  type FtClipActMode,
  type FtClipActOptions,
  type Granularity,
  type HardenData,
  type HardenOutcome,
  type Profile,
  type ProActOptions,
  type ProfileKey,
  type ThresholdProgress,
  type WeightClipGranularity,
} from '../harden/index.js';
import { stopOnSignals } from './stop.js';
import { activationCounts, log, parseFloatOption, parseIntOption, parseNumberList, addFaultModelOptions, faultModelFromFlags, progressBar, table, type FaultModelFlags, type Progress } from './common.js';

export const HARDEN_METHODS = ['ranger', 'ranger-zero', 'ftclipact', 'fitact', 'proact', 'weight-clip'] as const;
export type HardenMethod = (typeof HARDEN_METHODS)[number];

interface HardenCli extends FaultModelFlags {
  skipUnsupported?: boolean;
  method?: string;
  model?: string;
  data?: string;
  out?: string;
  thresholds?: string;
  profileImages: number;
  validation: string;
  seed: number;
  threads: number;
  batch?: number;
  json?: boolean;
  granularity?: string;
  weightClip?: string;
  weightMargin?: number;
  // FT-ClipAct
  fiBers: number[];
  fiRepetitions: number;
  fiCandidates: number;
  fiRounds: number;
  fiMinRounds: number;
  fiTolerance: number;
  fiImages: number;
  fiMode: string;
  workers: number;
  // FitAct / ProAct
  trainImages?: number;
  k?: number;
  warmupEpochs?: number;
  epochs?: number;
  lr?: number;
  lambda?: number;
  weightDecays?: number[];
  tolerance?: number;
  scalarEpochs?: number;
  scalarLr?: number;
  vectorEpochs?: number;
  vectorLr?: number;
  referenceGrowingSet?: boolean;
  flatWarmup?: boolean;
  /** false with --no-early-rollback (commander's negatable flag defaults to true). */
  earlyRollback?: boolean;
  fresh?: boolean;
}

/** What `proact harden --json` prints: one line, the shape scripts (and the tests) read. */
export interface HardenCliResult {
  method: string;
  model: string;
  out: string;
  thresholdsFile: string;
  decisionsFile: string;
  seed: number;
  thresholdValues: number;
  /** Weight-bound values stored in the hardened model (0 without weight clipping). */
  weightBoundValues: number;
  validationImages: number;
  /** Where the validation images came from (--validation), e.g. "test records 5000-9999 (5000); test report on the other 5000". */
  validationSource: string;
  /** null when there was no validation split. */
  validationAccuracy: number | null;
  testImages: number;
  /** null when the dataset has no test split. */
  testAccuracy: number | null;
  baseline: { validationAccuracy: number | null; testAccuracy: number | null };
  imagesProcessed: number;
  seconds: number;
  decisions: number;
}

/** Files written beside `--out`: `hardened.onnx` -> `hardened.thresholds.json`, `.decisions.json`, `.profile.json`. */
export function companionPaths(out: string): { thresholds: string; decisions: string; profile: string; checkpoint: string } {
  const base = out.replace(/\.onnx$/i, '');
  return { thresholds: `${base}.thresholds.json`, decisions: `${base}.decisions.json`, profile: `${base}.profile.json`, checkpoint: `${base}.checkpoint.json` };
}

/** The model contract (src/runtime/contract.ts), plus what hardening needs on top: a free batch dimension. */
async function checkHardenContract(graph: Graph, data: Dataset, model: string): Promise<void> {
  const session = await Session.create(graph, { threads: 1, name: model });
  try {
    const contract = checkModelContract(session, { imageShape: data.shape, numClasses: data.numClasses });
    if (contract.fixedBatch !== null)
      throw new ProactError(`${model}: has a fixed batch of ${contract.fixedBatch}; hardening trains on batches — re-export it with a dynamic batch (torch.onnx.export(..., dynamic_axes={'input': {0: 'batch'}}))`);
  } finally {
    await session.release();
  }
}

/** k and guard of the smooth-zero forms deployed in a hardened graph (from its `proact.activations` metadata). */
function deployedSmoothForm(g: Graph): { k?: number; guard?: boolean } {
  const meta = g.metadata['proact.activations'];
  if (!meta) return {};
  const records = JSON.parse(meta) as { kind: string; k?: number; guard?: boolean }[];
  const smooth = records.find((r) => r.kind === 'smooth-zero');
  return smooth ? { ...(smooth.k !== undefined ? { k: smooth.k } : {}), ...(smooth.guard !== undefined ? { guard: smooth.guard } : {}) } : {};
}

const pct = (v: number) => (Number.isFinite(v) ? (v * 100).toFixed(2) : '-');

function checkMethod(o: HardenCli): HardenMethod | undefined {
  if (o.method === undefined) {
    if (!o.thresholds) throw new ProactError(`harden: --method is required (one of ${HARDEN_METHODS.join(', ')}), or --thresholds <file> to apply saved thresholds`);
    return undefined;
  }
  if (!(HARDEN_METHODS as readonly string[]).includes(o.method)) throw new ProactError(`harden: unknown --method '${o.method}'; use one of ${HARDEN_METHODS.join(', ')}`);
  if (o.thresholds) throw new ProactError('harden: give either --method or --thresholds, not both (--thresholds applies saved thresholds without running a method)');
  return o.method as HardenMethod;
}

/** Flags of one method (FT-ClipAct's fault surface, threshold training's schedule) given to another are mistakes, not no-ops. */
function checkMethodFlags(o: HardenCli, method: HardenMethod | undefined): void {
  if (o.referenceSurface && method !== 'ftclipact')
    throw new ProactError(`--reference-surface: only ftclipact injects faults while hardening; give it to 'proact campaign' to measure ${method ?? 'the model'} on the reference surface`);
  if (o.flatWarmup && method !== 'fitact' && method !== 'proact')
    throw new ProactError(`--flat-warmup: only fitact and proact train thresholds with a warm-up; remove it for ${method ?? '--thresholds'}`);
  if (o.earlyRollback === false && method !== 'proact')
    throw new ProactError(`--no-early-rollback: only proact rolls trials back; remove it for ${method ?? '--thresholds'}`);
}

function checkGranularity(g: string | undefined, method: HardenMethod | undefined): void {
  if (g === undefined) return;
  if (method === 'weight-clip') throw new ProactError('--granularity is the threshold granularity; weight-clip has no thresholds: use --weight-clip tensor|channel for its bounds');
  if (method === 'ranger' || method === 'ranger-zero') {
    if (!(GRANULARITIES as readonly string[]).includes(g)) throw new ProactError(`--granularity ${g}: expected ${GRANULARITIES.join(', ')} for ${method}`);
  } else if (method === 'fitact' || method === 'proact') {
    if (g !== 'hyrelu' && !(GRANULARITIES as readonly string[]).includes(g)) throw new ProactError(`--granularity ${g}: expected ${GRANULARITIES.join(', ')} or hyrelu for ${method}`);
  } else throw new ProactError('--granularity applies to ranger, ranger-zero, fitact and proact (FT-ClipAct is layer-wise by definition)');
}

/** The weight-bound granularity asked for: weight-clip's own (default tensor), or --weight-clip with another method; undefined for none. */
function weightClipGranularity(o: HardenCli, method: HardenMethod | undefined): WeightClipGranularity | undefined {
  const g = o.weightClip ?? (method === 'weight-clip' ? 'tensor' : undefined);
  if (g !== undefined && !(WEIGHT_CLIP_GRANULARITIES as readonly string[]).includes(g)) throw new ProactError(`--weight-clip ${g}: expected ${WEIGHT_CLIP_GRANULARITIES.join(' or ')}`);
  if (g === undefined && o.weightMargin !== undefined) throw new ProactError('--weight-margin widens weight bounds: add --weight-clip tensor|channel, or use --method weight-clip');
  if (o.weightMargin !== undefined) checkWeightMargin(o.weightMargin);
  return g as WeightClipGranularity | undefined;
}

function ftClipActOptions(o: HardenCli, onProgress: FtClipActOptions['onProgress']): FtClipActOptions {
  if (!(FTCLIPACT_MODES as readonly string[]).includes(o.fiMode))
    throw new ProactError(`--fi-mode ${o.fiMode}: expected toolbox (every layer clipped, faults anywhere) or paper (only the searched layer clipped and faulted)`);
  const opts: FtClipActOptions = {
    bers: o.fiBers,
    repetitions: o.fiRepetitions,
    candidates: o.fiCandidates,
    rounds: o.fiRounds,
    minRounds: o.fiMinRounds,
    tolerance: o.fiTolerance,
    images: o.fiImages,
    mode: o.fiMode as FtClipActMode,
    seed: o.seed,
    faults: faultModelFromFlags(o),
    threads: o.threads,
    workers: o.workers,
    batchSize: evalBatch(o),
  };
  if (onProgress) opts.onProgress = onProgress;
  return opts;
}

export function registerHarden(program: Command): void {
  const ref = FTCLIPACT_REFERENCE;
  const dflt = FTCLIPACT_DEFAULTS;
  const harden = program
    .command('harden')
    .description('replace activation layers (ReLU, ReLU6, LeakyReLU, PReLU, SiLU, HardSwish, GELU) by clipped activations (ranger, ranger-zero, ftclipact, fitact, proact) and/or bound the stored weights (weight-clip, --weight-clip), and write the hardened ONNX, its thresholds and the decision log')
    .option('--method <m>', `hardening method: ${HARDEN_METHODS.join(', ')}`)
    .option('--model <file>', 'ONNX model (unclipped, input NCHW float32 in [0,1])')
    .option('--data <dir>', "training data (CIFAR dir, MNIST IDX, .npy) or 'mnist'; its test split, if any, is evaluated at the end")
    .option('--out <file>', 'hardened ONNX to write (thresholds, decisions and profile cache go beside it)')
    .option('--thresholds <file>', 'apply the thresholds of a .thresholds.json instead of running a method')
    .option('--profile-images <n>', 'training images profiled for the initial thresholds (ref 3000)', parseIntOption('--profile-images', 1), DEFAULT_PROFILE_IMAGES)
    .option(
      '--validation <src>',
      "validation images (acceptance tests, reported accuracy): N training images held out (default 1000), test:A-B or train:A-B (records A..B of --data's split, removed from the test report or from training), or PATH[:A-B] (another dataset file); for models trained on every training image use test:5000-9999",
      (v: string) => (parseValidationSpec(v), v),
      '1000',
    )
    .option('--seed <s>', 'seed of the validation split, the profiling subset, fault patterns and training', parseIntOption('--seed', 0), 0)
    .option('--threads <t>', 'onnxruntime intra-op threads', parseIntOption('--threads', 1), 2)
    .option('--batch <n>', 'batch size (default 128 for evaluation and profiling; fitact/proact default to their own training batch)', parseIntOption('--batch', 1))
    .option('--weight-clip <g>', `also bound every conv/linear weight and bias to its clean range: ${WEIGHT_CLIP_GRANULARITIES.join('|')} (weight-clip's own granularity, default tensor; biases always per tensor)`)
    .option('--weight-margin <m>', 'widen each weight bound by m x its largest magnitude on both sides (default 0)', parseFloatOption('--weight-margin'))
    .option('--granularity <g>', `threshold granularity: ranger ${GRANULARITIES.join('|')} (default layer); fitact/proact also hyrelu (defaults neuron, hyrelu)`)
    .option('--fi-bers <list>', `ftclipact: BERs of the score (ref ${ref.bers.join(',')})`, parseNumberList('--fi-bers'), [...dflt.bers])
    .option('--fi-repetitions <n>', `ftclipact: fault patterns per BER and candidate (ref ${ref.repetitions})`, parseIntOption('--fi-repetitions', 1), dflt.repetitions)
    .option('--fi-candidates <n>', `ftclipact: thresholds per round (ref ${ref.candidates})`, parseIntOption('--fi-candidates', 3), dflt.candidates)
    .option('--fi-rounds <n>', `ftclipact: most rounds per layer (ref ${ref.rounds})`, parseIntOption('--fi-rounds', 1), dflt.rounds)
    .option('--fi-min-rounds <n>', `ftclipact: rounds before the early stop (ref ${ref.minRounds})`, parseIntOption('--fi-min-rounds', 1), dflt.minRounds)
    .option('--fi-tolerance <a>', `ftclipact: early stop when adjacent scores differ by <= a (accuracy, ref ${ref.tolerance})`, parseFloatOption('--fi-tolerance'), dflt.tolerance)
    .option('--fi-mode <m>', 'ftclipact: what a candidate is scored on: toolbox (every layer clipped, faults anywhere, as the reference toolbox) or paper (unprotected model, only the searched layer clipped and faulted, as FT-ClipAct was published)', 'toolbox')
    .option('--fi-images <n>', `ftclipact: training images per trial (ref: its whole sub-train set, ~${ref.images})`, parseIntOption('--fi-images', 1), dflt.images)
    .option('--workers <w>', 'ftclipact: worker threads for trials', parseIntOption('--workers', 1), 1)
    .option('--train-images <n>', `fitact/proact: training images, a seeded subset (default ${FITACT_DEFAULTS.images}; ref all)`, parseIntOption('--train-images', 1))
    .option('--k <k>', `fitact/proact: steepness of smooth-zero (default ${FITACT_DEFAULTS.k})`, parseFloatOption('--k'))
    .option('--warmup-epochs <n>', 'fitact/proact: warm-up epochs at 0.1 x lr before the cosine decay', parseIntOption('--warmup-epochs', 0))
    .option('--epochs <n>', `fitact: epochs (default ${FITACT_DEFAULTS.epochs}; ref 100-150)`, parseIntOption('--epochs', 1))
    .option('--lr <x>', `fitact: Adam learning rate (default ${FITACT_DEFAULTS.lr})`, parseFloatOption('--lr'))
    .option('--lambda <x>', `fitact: weight of sum(mean(T^2)) in the loss (default ${FITACT_DEFAULTS.lambda})`, parseFloatOption('--lambda'))
    .option('--weight-decays <list>', 'proact: AdamW weight decays tried per layer, strong to weak (default 4e-1,...,4e-11)', parseNumberList('--weight-decays'))
    .option('--tolerance <points>', `proact: accepted validation accuracy change, in points (default ${PROACT_DEFAULTS.tolerance * 100}; ref 1.5)`, parseFloatOption('--tolerance'))
    .option('--scalar-epochs <n>', `proact: epochs per layer-wise trial (default ${PROACT_DEFAULTS.scalarPhase.epochs}; ref 10)`, parseIntOption('--scalar-epochs', 1))
    .option('--scalar-lr <x>', `proact: lr of layer-wise thresholds (default ${PROACT_DEFAULTS.scalarPhase.lr})`, parseFloatOption('--scalar-lr'))
    .option('--vector-epochs <n>', `proact: epochs per neuron-/channel-wise trial (default ${PROACT_DEFAULTS.vectorPhase.epochs}; ref 100)`, parseIntOption('--vector-epochs', 1))
    .option('--vector-lr <x>', `proact: lr of neuron-/channel-wise thresholds (default ${PROACT_DEFAULTS.vectorPhase.lr}; ref 1e-3)`, parseFloatOption('--vector-lr'))
    .option('--reference-growing-set', 'proact: accepted layers stay trainable, as in the reference')
    .option('--flat-warmup', 'fitact/proact: warm up at the full learning rate, as the reference (default 0.1 x lr)')
    .option('--no-early-rollback', 'proact: run every trial to its end and test once (paper era); by default a trial already outside the tolerance after an epoch stops there')
    .option('--fresh', 'fitact/proact: ignore an existing training checkpoint and start again')
    .option('--skip-unsupported', 'leave activations proact cannot clip (Elu, Selu, Softplus, ...) unclipped instead of stopping')
    .option('--json', 'print the result as JSON');
  // FT-ClipAct's trials: the campaign's fault-model flags, its surface default without weight bounds, no --bn
  // (the search injects into the graph as given).
  addFaultModelOptions(harden, {
    defaults: { surface: FTCLIPACT_SURFACE },
    helpPrefix: 'ftclipact: ',
    bn: false,
    // --format is not FT-ClipAct's alone: every method hardens the model quantised to it.
    formatHelp: 'stored number format (float32, q15.16, int8, ...): every method hardens the model with its weights and biases quantised to it, as the reference; ftclipact also injects its faults in it',
  })
    .action(async (o: HardenCli) => {
      const method = checkMethod(o);
      if (!o.model) throw new ProactError('harden: --model <file> is required');
      if (!o.data) throw new ProactError("harden: --data <dir> is required (training data, or 'mnist')");
      if (!o.out) throw new ProactError('harden: --out <file> is required (the hardened .onnx to write)');
      checkGranularity(o.granularity, method);
      checkMethodFlags(o, method);
      const weightClip = weightClipGranularity(o, method);
      const weightOptions = { ...(weightClip ? { granularity: weightClip } : {}), ...(o.weightMargin !== undefined ? { margin: o.weightMargin } : {}) };
      if (o.tolerance !== undefined && !(o.tolerance >= 0 && o.tolerance < 100))
        throw new ProactError(`--tolerance ${o.tolerance}: expected accuracy points in [0, 100), e.g. 1.5 (the reference's paper-era value)`);
      const out = o.out;
      const paths = companionPaths(out);
      guardOutputs(
        [
          { path: out, what: '--out' },
          { path: paths.thresholds, what: 'the thresholds file' },
          { path: paths.decisions, what: 'the decisions file' },
          { path: paths.profile, what: 'the profile cache' },
          { path: paths.checkpoint, what: 'the training checkpoint' },
        ],
        [
          { path: o.model, what: '--model' },
          { path: o.data, what: '--data' },
          o.thresholds === undefined ? undefined : { path: o.thresholds, what: '--thresholds' },
        ],
      );
      checkInputFile(o.model, '--model');

      let modelBytes: Uint8Array;
      try {
        modelBytes = readFileSync(o.model);
      } catch {
        throw new ProactError(`${o.model}: cannot read the model file; give the path to an .onnx file`);
      }
      // Under a fixed-point (or any non-float32) format every method works on the stored, quantised model.
      const graph = quantisedModel(prepareGraph(readOnnx(modelBytes, { source: o.model, baseDir: dirname(resolve(o.model)) })), o.format);
      for (const u of checkClippable(graph, o.skipUnsupported ?? false)) log(`left unclipped (--skip-unsupported): node '${printable(u.node)}' (${u.op})`);
      // Saved thresholds are checked against the model before any data is read.
      const saved = o.thresholds ? readThresholdsFile(o.thresholds) : undefined;
      const smooth = saved ? { ...(saved.k !== undefined ? { k: saved.k } : {}), ...(saved.guard !== undefined ? { guard: saved.guard } : {}) } : {};
      const fromFile = saved ? applyThresholds(graph, saved.thresholds, saved.method, smooth) : undefined;
      const trainSet = openDataset(o.data, { split: 'train' });
      let testSet: Dataset | undefined;
      try {
        testSet = openDataset(o.data, { split: 'test' });
      } catch {
        testSet = undefined; // no test split: only the validation accuracy is reported
      }
      await checkHardenContract(graph, trainSet, o.model);
      const chosen = resolveValidation(parseValidationSpec(o.validation), o.validation, trainSet, testSet, o.seed);
      const data: HardenData = { train: chosen.train, validation: chosen.validation };
      testSet = chosen.test;
      if (!saved && data.train.count === 0)
        throw new ProactError(`--validation ${o.validation}: leaves no training images out of ${trainSet.count} in ${trainSet.name}; give a smaller --validation`);
      log(`seed ${o.seed}: validation ${data.validation.count} and training ${data.train.count} images of ${trainSet.name} (validation: ${chosen.description})`);
      const threads = o.threads;

      let outcome: HardenOutcome;
      let profile: Profile | undefined;
      if (method === 'weight-clip') {
        outcome = await hardenWeightClip(graph, data, { ...weightOptions, threads, batchSize: evalBatch(o) });
      } else if (saved && fromFile) {
        const t0 = performance.now();
        const validationAccuracy = await graphAccuracy(fromFile, data.validation, { threads, batchSize: evalBatch(o) });
        outcome = { method: saved.method, graph: fromFile, thresholds: saved.thresholds, decisions: [], imagesProcessed: data.validation.count, seconds: (performance.now() - t0) / 1000, validationAccuracy };
        log(`applied ${countThresholdValues(saved.thresholds)} thresholds (${saved.method}) from ${o.thresholds}`);
      } else {
        const format = parseFormat(o.format).name;
        const key: ProfileKey = { modelHash: sha256(modelBytes), data: `${data.train.name}:${data.train.count}`, images: o.profileImages, seed: o.seed, foldBatchNorm: true, ...(format !== 'float32' ? { format } : {}) };
        profile = loadCachedProfile(paths.profile, key, graph);
        if (profile) log(`profile: reused ${paths.profile} (${profile.images} images)`);
        else {
          const bar = o.json ? undefined : progressBar('profile', Math.min(o.profileImages, data.train.count));
          profile = await profileActivations(graph, data.train, { images: o.profileImages, seed: o.seed, threads, batchSize: evalBatch(o), onBatch: (d) => bar?.update(d) });
          bar?.stop();
          saveProfile(paths.profile, key, profile);
          log(`profile: ${profile.images} images, ${profile.layers.length} activation layers, cached in ${paths.profile}`);
        }
        const abort = new AbortController();
        const stop = stopOnSignals((sig) => `${sig}: stopping after this step (a second signal quits now); run the same command again to resume`, () => abort.abort());
        try {
          outcome = await runMethod(method!, graph, data, profile, o, paths.checkpoint, abort.signal); // checkMethod: no --thresholds means a method
        } catch (e) {
          // Stopped by a signal: the same one-line message, with the signal's exit code (130 / 143), not 2.
          const code = stop.exitCode();
          throw code !== undefined && e instanceof ProactError ? new ProactError(e.message, { exitCode: code, cause: e }) : e;
        } finally {
          stop.dispose();
        }
      }

      // Weight bounds compose with any activation method: they change only how the stored weights are
      // read, and are the identity on clean weights (the method's validation accuracy stays true).
      const hardened = weightClip && method !== 'weight-clip' ? addWeightBounds(outcome.graph, weightOptions).graph : outcome.graph;
      const weightBoundValues = graphOverhead(hardened).weightBounds?.stored?.parameters ?? 0;
      hardened.metadata['proact.seed'] = String(o.seed);
      Object.assign(hardened.metadata, reportArtifacts(outcome, graph, profile, o.seed));
      writeFileAtomic(out, [writeOnnx(hardened)], 'the hardened model');
      writeFileAtomic(paths.thresholds, [thresholdsToJSON({ method: outcome.method, thresholds: outcome.thresholds, ...deployedSmoothForm(hardened) })], 'the thresholds');
      writeFileAtomic(
        paths.decisions,
        [JSON.stringify({ method: outcome.method, seed: o.seed, imagesProcessed: outcome.imagesProcessed, seconds: outcome.seconds, validationAccuracy: outcome.validationAccuracy, decisions: outcome.decisions }, null, 1) + '\n'],
        'the decisions',
      );
      await checkPlainOnnxruntime(out, hardened, data.validation.count > 0 ? data.validation : data.train);

      const baseline = {
        validation: await graphAccuracy(graph, data.validation, { threads, batchSize: evalBatch(o) }),
        test: testSet ? await graphAccuracy(graph, testSet, { threads, batchSize: evalBatch(o) }) : NaN,
      };
      const testAccuracy = testSet ? await graphAccuracy(hardened, testSet, { threads, batchSize: evalBatch(o) }) : NaN;
      const result: HardenCliResult = {
        method: outcome.method,
        model: o.model,
        out,
        thresholdsFile: paths.thresholds,
        decisionsFile: paths.decisions,
        seed: o.seed,
        thresholdValues: countThresholdValues(outcome.thresholds),
        weightBoundValues,
        validationImages: data.validation.count,
        validationSource: chosen.description,
        validationAccuracy: Number.isFinite(outcome.validationAccuracy) ? outcome.validationAccuracy : null,
        testImages: testSet?.count ?? 0,
        testAccuracy: Number.isFinite(testAccuracy) ? testAccuracy : null,
        baseline: { validationAccuracy: Number.isFinite(baseline.validation) ? baseline.validation : null, testAccuracy: Number.isFinite(baseline.test) ? baseline.test : null },
        imagesProcessed: outcome.imagesProcessed,
        seconds: outcome.seconds,
        decisions: outcome.decisions.length,
      };
      if (o.json) {
        process.stdout.write(JSON.stringify(result) + '\n');
        return;
      }
      process.stdout.write(
        [
          `method      ${outcome.method} (seed ${o.seed})`,
          `wrote       ${out}, ${paths.thresholds}, ${paths.decisions}`,
          `thresholds  ${result.thresholdValues.toLocaleString('en-US')} values in ${outcome.thresholds.length} layers`,
          ...(weightClip ? [`bounds      ${weightBoundValues.toLocaleString('en-US')} weight-bound values (${weightClip}-wise weights, tensor-wise biases)`] : []),
          table(
            ['accuracy %', 'unclipped', 'hardened'],
            [
              [`validation (${data.validation.count})`, pct(baseline.validation), pct(outcome.validationAccuracy)],
              [`test (${testSet?.count ?? 0})`, pct(baseline.test), pct(testAccuracy)],
            ],
          ),
          `budget      ${outcome.imagesProcessed.toLocaleString('en-US')} images through the network, ${outcome.seconds.toFixed(1)} s`,
        ].join('\n') + '\n',
      );
    });
}

/** Batch size for evaluation and profiling (training methods keep their own default unless --batch is given). */
function evalBatch(o: HardenCli): number {
  return o.batch ?? 128;
}

/**
 * Report artifacts carried in the hardened model's ONNX metadata (`proact.artifact.<name>`): a campaign
 * on the model stores them with its results, so `proact report` can show thresholds against the profiled
 * maxima, the overhead table and the decision log without any extra file.
 */
function reportArtifacts(outcome: HardenOutcome, unclipped: Graph, profile: Profile | undefined, seed: number): Record<string, string> {
  const MAX_VALUES = 4096; // larger (neuron-wise) layers are stored as a summary
  const layers = outcome.thresholds.map((t) => {
    const values = Array.from(t.values);
    const sorted = [...values].sort((a, b) => a - b);
    const summary = {
      count: values.length,
      min: sorted[0] ?? 0,
      max: sorted[sorted.length - 1] ?? 0,
      mean: values.reduce((a, b) => a + b, 0) / Math.max(1, values.length),
      median: sorted[sorted.length >> 1] ?? 0,
    };
    const profiledMax = profile?.layers.find((l) => l.node === t.node)?.layerMax;
    return {
      layer: t.layer,
      node: t.node,
      kind: t.kind,
      granularity: t.granularity,
      dims: t.dims,
      ...(values.length <= MAX_VALUES ? { values } : {}),
      summary,
      ...(profiledMax !== undefined ? { profiledMax } : {}),
    };
  });
  const overhead = graphOverhead(unclipped);
  let modelParameters = 0;
  for (const [name, t] of unclipped.initializers) if (t.dtype === 'float32' && !name.startsWith('proact.')) modelParameters += t.data.length;
  const schemes = (['layer', 'channel', 'hyrelu', 'neuron'] as const).map((k) => ({ scheme: k, parameters: overhead.schemes[k].parameters, bytes: overhead.schemes[k].bytes }));
  return {
    'proact.artifact.thresholds': JSON.stringify({ method: outcome.method, ...(profile ? { profileImages: profile.images } : {}), layers }),
    'proact.artifact.overhead': JSON.stringify({ model: unclipped.name, modelParameters, reference: 'hyrelu', schemes }),
    'proact.artifact.hardening': JSON.stringify({
      method: outcome.method,
      seconds: outcome.seconds,
      imagesProcessed: outcome.imagesProcessed,
      ...(Number.isFinite(outcome.validationAccuracy) ? { validationAccuracy: outcome.validationAccuracy } : {}),
      settings: { seed },
      decisions: outcome.decisions,
    }),
  };
}

async function runMethod(method: Exclude<HardenMethod, 'weight-clip'>, graph: Graph, data: HardenData, profile: Profile, o: HardenCli, checkpoint: string, signal: AbortSignal): Promise<HardenOutcome> {
  const threads = o.threads;
  switch (method) {
    case 'ranger':
    case 'ranger-zero':
      return hardenRanger(graph, data, profile, { method, granularity: (o.granularity ?? 'layer') as Granularity, threads, batchSize: evalBatch(o) });
    case 'ftclipact': {
      let bar: Progress | undefined;
      let barLayer = -1;
      const outcome = await hardenFtClipAct(
        graph,
        data,
        profile,
        ftClipActOptions(o, (p) => {
          if (p.chosen !== undefined) {
            bar?.stop();
            bar = undefined;
            log(`layer ${p.layer} (${profile.layers[p.layer]!.node}): T = ${p.chosen.toPrecision(5)} of max ${profile.layers[p.layer]!.layerMax.toPrecision(5)} after ${p.trialsDone} trials`);
            return;
          }
          if (p.layer !== barLayer && !o.json) {
            bar?.stop();
            barLayer = p.layer;
            bar = progressBar(`layer ${p.position + 1}/${p.searched}`, p.trialsPlanned, 'round {round}');
          }
          bar?.update(p.trialsDone, { round: p.round });
        }),
      );
      bar?.stop();
      return outcome;
    }
    case 'fitact':
    case 'proact': {
      const bars = trainingBars(o.json ?? false);
      const common = { seed: o.seed, threads, ...(o.batch !== undefined ? { batchSize: o.batch } : {}), checkpointPath: checkpoint, resume: !o.fresh, signal, onProgress: bars.update };
      try {
        if (method === 'fitact') {
          const opts: FitActOptions = { ...common };
          if (o.trainImages !== undefined) opts.images = o.trainImages;
          if (o.k !== undefined) opts.k = o.k;
          if (o.warmupEpochs !== undefined) opts.warmupEpochs = o.warmupEpochs;
          if (o.flatWarmup) opts.flatWarmup = true;
          if (o.epochs !== undefined) opts.epochs = o.epochs;
          if (o.lr !== undefined) opts.lr = o.lr;
          if (o.lambda !== undefined) opts.lambda = o.lambda;
          if (o.granularity !== undefined) opts.granularity = o.granularity as Granularity | 'hyrelu';
          return await hardenFitAct(graph, data, profile, opts);
        }
        const opts: ProActOptions = {
          ...common,
          onDecision: (d) => {
            bars.stop();
            log(`layer ${d.layer}: weight decay ${String(d.setting.weightDecay ?? '-')} -> validation ${pct(d.accuracy)}% ${d.accepted ? 'accepted' : 'rolled back'}`);
          },
        };
        if (o.trainImages !== undefined) opts.images = o.trainImages;
        if (o.k !== undefined) opts.k = o.k;
        if (o.weightDecays !== undefined) opts.weightDecays = o.weightDecays;
        if (o.tolerance !== undefined) opts.tolerance = o.tolerance / 100;
        if (o.granularity !== undefined) opts.granularity = o.granularity as Granularity | 'hyrelu';
        if (o.referenceGrowingSet) opts.referenceGrowingSet = true;
        if (o.flatWarmup) opts.flatWarmup = true;
        if (o.earlyRollback === false) opts.earlyRollback = false;
        const phase = (epochs: number | undefined, lr: number | undefined) => ({
          ...(epochs !== undefined ? { epochs } : {}),
          ...(lr !== undefined ? { lr } : {}),
          ...(o.warmupEpochs !== undefined ? { warmupEpochs: o.warmupEpochs } : {}),
        });
        opts.scalarPhase = phase(o.scalarEpochs, o.scalarLr);
        opts.vectorPhase = phase(o.vectorEpochs, o.vectorLr);
        return await hardenProAct(graph, data, profile, opts);
      } finally {
        bars.stop();
      }
    }
  }
}

/** One progress bar per trained layer (and weight decay) of threshold training. */
function trainingBars(quiet: boolean): { update: (p: ThresholdProgress) => void; stop: () => void } {
  let bar: Progress | undefined;
  let current = '';
  return {
    update: (p) => {
      if (quiet) return;
      const phase = `${p.method} layer ${p.layer}${p.weightDecay !== undefined ? ` wd ${p.weightDecay}` : ''}`;
      if (phase !== current || !bar) {
        bar?.stop();
        current = phase;
        bar = progressBar(phase, p.steps, 'epoch {epoch} loss {loss}');
      }
      bar.update(p.step, { epoch: `${p.epoch}/${p.epochs}`, loss: p.loss.toFixed(4) });
    },
    stop: () => {
      bar?.stop();
      bar = undefined;
      current = '';
    },
  };
}

export function registerOverhead(program: Command): void {
  program
    .command('overhead')
    .description('threshold memory each granularity adds to a model (neuron, channel, layer, HyReLU), the ratios, and the weight bounds of weight clipping (tensor, channel)')
    .requiredOption('--model <file>', 'ONNX model (plain or hardened by proact)')
    .option('--layers', 'also list the activation layers')
    .option('--json', 'print the result as JSON')
    .action((o: { model: string; layers?: boolean; json?: boolean }) => {
      let bytes: Uint8Array;
      checkInputFile(o.model, '--model');
      try {
        bytes = readFileSync(o.model);
      } catch {
        throw new ProactError(`${o.model}: cannot read the model file; give the path to an .onnx file`);
      }
      const overhead = graphOverhead(prepareGraph(readOnnx(bytes, { source: o.model })));
      if (o.json) {
        process.stdout.write(JSON.stringify({ model: o.model, ...overhead }) + '\n');
        return;
      }
      const h = overhead.schemes.hyrelu.parameters;
      const rows = (['neuron', 'channel', 'layer', 'hyrelu'] as const).map((s) => [
        s === 'hyrelu' ? 'HyReLU' : `${s}-wise`,
        overhead.schemes[s].parameters.toLocaleString('en-US'),
        overhead.schemes[s].bytes.toLocaleString('en-US'),
        (overhead.schemes[s].parameters / h).toFixed(2),
      ]);
      if (overhead.stored) rows.push(['this model', overhead.stored.parameters.toLocaleString('en-US'), overhead.stored.bytes.toLocaleString('en-US'), (overhead.stored.parameters / h).toFixed(2)]);
      const lines = [
        `model ${o.model}: ${overhead.layers.length} activation layers (${activationCounts(overhead.layers.map((l) => l.activation ?? 'relu'))})`,
        table(['thresholds', 'parameters', 'bytes (float32)', 'x HyReLU'], rows),
        `neuron-wise / HyReLU = ${overhead.ratios.neuronToHyrelu.toFixed(1)}x`,
      ];
      const wb = overhead.weightBounds;
      if (wb) {
        const boundRows = WEIGHT_CLIP_GRANULARITIES.map((k) => [`${k}-wise`, wb.schemes[k].parameters.toLocaleString('en-US'), wb.schemes[k].bytes.toLocaleString('en-US')]);
        if (wb.stored) boundRows.push(['this model', wb.stored.parameters.toLocaleString('en-US'), wb.stored.bytes.toLocaleString('en-US')]);
        lines.push('', `weight clipping: ${wb.tensors} weight and bias tensors (biases bounded per tensor)`, table(['weight bounds', 'parameters', 'bytes (float32)'], boundRows));
      }
      if (o.layers)
        lines.push('', table(['layer', 'node', 'activation', 'dims', 'elements', 'channels'], overhead.layers.map((l) => [l.index, l.node, l.activation ?? 'relu', l.dims.join('x'), l.elements, l.channels])));
      process.stdout.write(lines.join('\n') + '\n');
    });
}
