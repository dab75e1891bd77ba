/**
 * `proact faults show|replay`: the fault plan of one campaign trial, shown or saved as JSON, and a saved
 * plan replayed on its model (accuracy, SDC, DUE and a hash of the faulty logits).
 *
 * `show` builds its planner exactly as the campaign engine does (same graph preparation, surface, seed,
 * format, count model, policy), so the plan it prints is the one the campaign injects in that trial.
 * `replay` writes the plan into the serialised model the way a campaign trial does (applyPlanToBytes +
 * a fresh onnxruntime session), so its logits are the trial's, bit for bit.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  activationSurfaceOf,
  applyPlanToBytes,
  campaignPlanner,
  campaignSegments,
  effectiveFaults,
  faultSurface,
  loadCampaignInputs,
  makeFaultable,
  runClean,
  runSegments,
  runTrial,
  sha256,
  startBoundaries,
  trialContext,
} from '../campaign/index.js';
import { openDataset, subset, type Split } from '../data/index.js';
import {
  ActivationPlanner,
  SURFACE_KINDS,
  activationSurfaceHash,
  checkBer,
  parseBatchNormMode,
  planFromJSON,
  planToJSON,
  resolveFaultModel,
  surfaceHash,
  trialImages,
  type FaultModelInput,
  type FaultPlan,
  type Sampling,
  type SurfaceKind,
  type SurfaceShape,
} from '../faults/index.js';
import { prepareGraph, readOnnxFile, type Graph } from '../graph/index.js';
import { Session, evaluate } from '../runtime/index.js';
import { ProactError } from '../util/errors.js';
import { writeFileAtomic } from '../util/files.js';
import { checkInputFile, guardOutputs } from '../util/outputs.js';
import { addFaultModelOptions, faultModelFromFlags, log, parseFloatOption, parseIntOption, table, type FaultModelFlags } from './common.js';

const ALL_KINDS = SURFACE_KINDS;

// ---------------------------------------------------------------- library-level helpers

export interface TrialPlanOptions {
  /** ONNX model file. */
  model: string;
  ber: number;
  trial: number;
  /** Campaign seed (default 0, as the campaign). */
  seed?: number;
  /** The campaign's fault model (defaults as the campaign's). */
  faults?: FaultModelInput;
  /** How the campaign sampled its trials (a stratified trial number encodes its stratum). */
  sampling?: Sampling;
  /**
   * With activation layers in the fault model's surface, the plan holds the trial's activation faults,
   * drawn over its images: they need the evaluation set's size and the trial's image count.
   */
  evalCount?: number;
  images?: number;
}

/** The model as the campaign engine prepares it before injection. */
function loadPrepared(model: string, foldBatchNorm: boolean): Graph {
  return prepareGraph(readOnnxFile(model), { foldBatchNorm });
}

/** The plan a campaign with these options injects in trial `trial` at `ber`, and the planner's surface size. */
export function planOfTrial(o: TrialPlanOptions): { plan: FaultPlan; surfaceBits: number } {
  checkBer(o.ber);
  const faults = resolveFaultModel(o.faults);
  const graph = loadPrepared(o.model, faults.foldBatchNorm);
  const surface = faultSurface(graph, { format: faults.format, kinds: faults.surface, referenceSurface: faults.referenceSurface });
  const planner = campaignPlanner(surface, { faults, ...(o.sampling ? { sampling: o.sampling } : {}) }, o.seed ?? 0);
  const plan = planner.plan(o.ber, o.trial);
  if (faults.activations.length === 0) return { plan, surfaceBits: planner.totalBits };
  const layers = activationSurfaceOf(graph, faults.activations);
  if (o.evalCount === undefined) throw new ProactError('faults show: activation faults are drawn over the trial\'s images: give --data (and --eval-limit) as in the campaign');
  const images = Math.min(o.images ?? o.evalCount, o.evalCount);
  const subset = trialImages(o.seed ?? 0, o.ber, o.trial, images, o.evalCount);
  const activations = new ActivationPlanner(layers, { seed: o.seed ?? 0, format: faults.format, count: faults.count, policy: faults.policy }).plan(o.ber, o.trial, subset);
  return { plan: { ...plan, activations, activationSurfaceHash: activationSurfaceHash(layers) }, surfaceBits: planner.totalBits };
}

export interface ReplayOptions {
  model: string;
  /** Plan JSON file (planToJSON's text). */
  plan: string;
  /** Dataset path, or 'mnist'. */
  data: string;
  split?: Split;
  evalLimit?: number;
  /** Default 250, as the campaign (the logits hash is taken at this batch size). */
  batchSize?: number;
  /** onnxruntime intra-op threads (default 2, as a one-worker campaign). */
  threads?: number;
  foldBatchNorm?: boolean;
  /**
   * The trial's image count when it evaluated a random subset (the `images` of its stored trial): the
   * same subset is drawn from the plan's (seed, BER, trial).
   */
  images?: number;
  /** The campaign's --surface entries (kinds and activation selectors): needed for plans with activation faults. */
  surface?: string;
}

export interface ReplayResult {
  model: string;
  plan: string;
  ber: number;
  trial: number;
  seed: number;
  format: string;
  faults: number;
  /** The kinds of the tensors in the plan's surface (found by its hash). */
  surface: SurfaceKind[];
  data: string;
  images: number;
  cleanAccuracy: number;
  accuracy: number;
  /** Inputs the clean model gets right and the faulty one gets wrong with finite logits, over all inputs. */
  sdc: number;
  /** Inputs with Inf or NaN logits, over all inputs. */
  due: number;
  /** sha256 (hex) of the faulty float32 logits, images x classes, row-major, little-endian. */
  logitsSha256: string;
}

/** Non-empty subsets of the surface kinds, the campaign's default (all) first. */
function kindSubsets(): SurfaceKind[][] {
  const out: SurfaceKind[][] = [];
  for (let mask = (1 << ALL_KINDS.length) - 1; mask >= 1; mask--) out.push(ALL_KINDS.filter((_, k) => mask & (1 << (ALL_KINDS.length - 1 - k))));
  return out;
}

/**
 * The surface kinds whose fault surface has the plan's hash. A plan does not record the kinds it was
 * made with, but the hash identifies them: each subset of kinds filters the full surface to a different
 * list (or to the same list, when the model has no tensor of a kind, which then does not matter).
 */
function matchSurfaceKinds(full: readonly SurfaceShape[], hash: string, planPath: string, model: string): { kinds: SurfaceKind[]; shapes: SurfaceShape[] } {
  for (const kinds of kindSubsets()) {
    const shapes = full.filter((t) => kinds.includes(t.kind));
    if (shapes.length > 0 && surfaceHash(shapes) === hash) return { kinds, shapes };
  }
  throw new ProactError(
    `${planPath}: the plan was made for another model (its surface hash ${hash.slice(0, 12)}... matches no fault surface of ${model}): replay it on the model it was made for`,
  );
}

/** Applies a saved plan to its model as a campaign trial does, and evaluates it against the clean model. */
export async function replayPlan(o: ReplayOptions): Promise<ReplayResult> {
  let text: string;
  checkInputFile(o.plan, '--plan');
  try {
    text = readFileSync(o.plan, 'utf8');
  } catch {
    throw new ProactError(`${o.plan}: cannot read the plan file; give the JSON file 'proact faults show --out' wrote`);
  }
  const parsed = withSource(o.plan, () => planFromJSON(text));
  if (parsed.activations !== undefined || parsed.fault !== undefined) return replaySegmented(o, parsed, text);
  const graph = loadPrepared(o.model, o.foldBatchNorm ?? true);
  const full = faultSurface(graph, { kinds: [...ALL_KINDS] });
  const { kinds, shapes } = matchSurfaceKinds(full, parsed.surfaceHash, o.plan, o.model);
  const plan = withSource(o.plan, () => planFromJSON(text, shapes));
  const faultable = makeFaultable(graph, { format: plan.format, kinds, referenceSurface: plan.referenceSurface });
  checkBeforeValues(plan, faultable.surface, o);
  checkPlanIsTrials(plan, faultable, o);

  const dataset = openDataset(o.data, { split: o.split ?? 'test' });
  const batchSize = o.batchSize ?? 250;
  const threads = o.threads ?? 2;
  const available = Math.min(o.evalLimit ?? dataset.count, dataset.count);
  // A trial on a subset evaluated the images trialImages draws; replay them, in the same (ascending) order.
  const ds = o.images !== undefined && o.images < available ? subset(dataset, trialImages(plan.seed, plan.ber, plan.trial, o.images, available)) : dataset;
  const limit = Math.min(available, ds.count);
  const run = async (bytes: Uint8Array) => {
    const session = await Session.create(bytes, { threads });
    try {
      return await evaluate(session, ds, { batchSize, limit, keepLogits: true });
    } finally {
      await session.release();
    }
  };
  const clean = await run(faultable.bytes);
  const faulty = await run(applyPlanToBytes(faultable, plan.faults));
  const n = faulty.count;
  let sdc = 0;
  let due = 0;
  for (let i = 0; i < n; i++) {
    const label = faulty.labels[i]!;
    if (faulty.nonFinite[i]) due++;
    else if (!clean.nonFinite[i] && clean.predictions[i] === label && faulty.predictions[i] !== label) sdc++;
  }
  return {
    model: o.model,
    plan: o.plan,
    ber: plan.ber,
    trial: plan.trial,
    seed: plan.seed,
    format: plan.format,
    faults: plan.faults.length,
    surface: ALL_KINDS.filter((k) => shapes.some((t) => t.kind === k)),
    data: dataset.name,
    images: n,
    cleanAccuracy: clean.correct / n,
    accuracy: faulty.correct / n,
    sdc: sdc / n,
    due: due / n,
    logitsSha256: sha256(faulty.logits ?? new Float32Array(0)),
  };
}

/**
 * Replays a plan with activation faults or stuck-at faults exactly as a campaign trial runs it (runTrial
 * on the campaign's segments), and hashes the logits of every image of the trial computed the same way.
 */
async function replaySegmented(o: ReplayOptions, parsed: FaultPlan, text: string): Promise<ReplayResult> {
  // The plan records format, count, policy, reference surface and fault kind; --surface and --bn say the rest.
  const faults = resolveFaultModel({
    format: parsed.format,
    count: parsed.count,
    policy: parsed.policy,
    referenceSurface: parsed.referenceSurface,
    surface: o.surface ?? SURFACE_KINDS.join(','),
    foldBatchNorm: o.foldBatchNorm ?? true,
    fault: parsed.fault ?? 'flip',
  });
  const kinds = [...faults.surface];
  if (parsed.activations !== undefined && faults.activations.length === 0) throw new ProactError(`${o.plan}: the plan holds activation faults: give the campaign's --surface (e.g. --surface weight,bias,activation:conv)`);
  const inputs = loadCampaignInputs({ model: o.model, data: o.data, split: o.split ?? 'test', ...(o.evalLimit !== undefined ? { evalLimit: o.evalLimit } : {}), faults });
  const plan = withSource(o.plan, () => planFromJSON(text, inputs.faultable.surface));
  const batchSize = o.batchSize ?? 250;
  const threads = o.threads ?? 2;
  const { segments, activationPlanner } = await campaignSegments(inputs, { faults }, plan.seed, batchSize, threads);
  if (segments === undefined) throw new ProactError(`${o.model}: this model cannot be cut into segments, which replaying a plan with activation or stuck-at faults needs; replay it on the model its campaign ran`);
  if (activationPlanner !== undefined && activationPlanner.surfaceHash !== plan.activationSurfaceHash) {
    throw new ProactError(`${o.plan}: the plan's activation faults were made for another --surface or model: give the campaign's --surface`);
  }
  const count = inputs.evalSet.count;
  const images = Math.min(o.images ?? count, count);
  const subset = images < count ? trialImages(plan.seed, plan.ber, plan.trial, images, count) : Int32Array.from({ length: count }, (_, i) => i);
  const again = campaignPlanner(inputs.faultable.surface, { faults, sampling: plan.stratum === null ? 'plain' : 'stratified' }, plan.seed).plan(plan.ber, plan.trial);
  const activationsAgain = activationPlanner?.plan(plan.ber, plan.trial, subset);
  if (planToJSON({ ...again, ...(activationsAgain ? { activations: activationsAgain, activationSurfaceHash: activationPlanner!.surfaceHash } : {}) }) !== planToJSON(plan)) {
    throw new ProactError(`${o.plan}: the plan is not what trial ${plan.trial} at BER ${plan.ber} with seed ${plan.seed} makes with these options; the plan was edited or made with other options — write it again with proact faults show --out`);
  }
  const clean = await runClean(inputs, batchSize, threads);
  const ctx = trialContext(inputs, clean, batchSize, threads, plan.seed, { segments, format: plan.format, policy: plan.policy });
  const outcome = await runTrial(ctx, { ber: plan.ber, trial: plan.trial, faults: plan.faults, ...(plan.activations ? { activations: plan.activations } : {}), images });
  const hits = { weights: effectiveFaults(plan.faults), activations: plan.activations ?? [] };
  const run = await runSegments({ segments: segments!, evalSet: inputs.evalSet, batchSize, threads, format: plan.format, policy: plan.policy }, startBoundaries(segments!, subset, hits, true), hits, true);
  const classes = run.logits!.values().next().value?.length ?? 0;
  const logits = new Float32Array(subset.length * classes);
  subset.forEach((image, i) => logits.set(run.logits!.get(image)!, i * classes));
  return {
    model: o.model,
    plan: o.plan,
    ber: plan.ber,
    trial: plan.trial,
    seed: plan.seed,
    format: plan.format,
    faults: plan.faults.length + (plan.activations?.length ?? 0),
    surface: kinds,
    data: o.data,
    images: outcome.images ?? count,
    cleanAccuracy: clean.correct / count,
    accuracy: outcome.accuracy,
    sdc: outcome.sdc,
    due: outcome.due,
    logitsSha256: sha256(logits),
  };
}

/** Names the plan file in a plan error (planFromJSON's messages do not know the path). */
function withSource<T>(path: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof ProactError) throw new ProactError(`${path}: ${e.message}`);
    throw e;
  }
}

/**
 * Every fault's clean value must be the model's: a surface hash only covers names and shapes, so this
 * catches a plan replayed on other weights of the same architecture, or with another --bn mode.
 */
function checkBeforeValues(plan: FaultPlan, surface: readonly { name: string; values: Float32Array }[], o: ReplayOptions): void {
  const values = new Map(surface.map((t) => [t.name, t.values]));
  for (const f of plan.faults) {
    const held = values.get(f.tensor)![f.index]!;
    if (!(Object.is(held, f.before) || (Number.isNaN(held) && Number.isNaN(f.before)))) {
      throw new ProactError(
        `${o.plan}: the plan expects ${f.before} at element ${f.index} of '${f.tensor}' but ${o.model} holds ${held}: replay it on the weights (and --bn mode) it was made for`,
      );
    }
  }
}

/**
 * A plan is a pure function of (seed, BER, trial) and its options: it is made again and must be the same,
 * fault by fault. A hand-edited `after` (or any other field) would otherwise be replayed as if a trial
 * had made it, and its accuracy taken for a campaign's.
 */
function checkPlanIsTrials(plan: FaultPlan, faultable: ReturnType<typeof makeFaultable>, o: ReplayOptions): void {
  const sampling = plan.stratum === null ? 'plain' : 'stratified';
  const faults = { format: plan.format, count: plan.count, policy: plan.policy, referenceSurface: plan.referenceSurface };
  const again = campaignPlanner(faultable.surface, { faults, sampling }, plan.seed).plan(plan.ber, plan.trial);
  const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
  const n = Math.max(again.faults.length, plan.faults.length);
  for (let i = 0; i < n; i++) {
    const f = plan.faults[i];
    const g = again.faults[i];
    if (!f || !g || f.tensor !== g.tensor || f.index !== g.index || f.bit !== g.bit || !same(f.before, g.before) || !same(f.after, g.after)) {
      const what = f ? `fault ${i} (bit ${f.bit} of element ${f.index} of '${f.tensor}', after ${f.after})` : `fault ${i}`;
      throw new ProactError(
        `${o.plan}: ${what} is not what trial ${plan.trial} at BER ${plan.ber} with seed ${plan.seed} makes (${g ? `after ${g.after}` : `${again.faults.length} faults`}); the plan was edited — write it again with proact faults show --out`,
      );
    }
  }
}

// ---------------------------------------------------------------- commands

function parseSampling(sampling: string): Sampling {
  if (sampling !== 'plain' && sampling !== 'stratified') throw new ProactError(`--sampling ${sampling}: expected plain or stratified`);
  return sampling;
}

interface ShowCli extends FaultModelFlags {
  model?: string;
  ber?: number;
  trial?: number;
  seed: number;
  json?: boolean;
  out?: string;
  sampling: string;
  fault: string;
  data?: string;
  split: string;
  evalLimit?: number;
  images?: number;
}

interface ReplayCli {
  model?: string;
  plan?: string;
  data?: string;
  split: string;
  evalLimit?: number;
  batch: number;
  threads: number;
  bn: string;
  json?: boolean;
  images?: number;
  surface?: string;
}

/** A float32 value as planToJSON writes it (shortest text that reads back to the same value). */
function showValue(x: number): string {
  return Object.is(x, -0) ? '-0' : String(x);
}

function planTable(plan: FaultPlan): string {
  const rows = plan.faults.map((f) => [f.tensor, f.index, f.bit, showValue(f.before), showValue(f.after)]);
  const header =
    `${plan.faults.length} faults: BER ${plan.ber}, trial ${plan.trial}, seed ${plan.seed}, ${plan.format}, count ${plan.count}, policy ${plan.policy}` +
    `${plan.referenceSurface ? ', reference surface' : ''}${plan.fault !== undefined ? `, ${plan.fault}` : ''}, surface ${plan.surfaceHash.slice(0, 12)}` +
    (plan.activations !== undefined ? `\n${plan.activations.length} activation faults (layer image index bit): ${plan.activations.slice(0, 20).map((f) => `${f.layer} ${f.image} ${f.index} ${f.bit}`).join('; ')}${plan.activations.length > 20 ? '; ... (--json lists all)' : ''}` : '');
  return rows.length === 0 ? header : `${table(['tensor', 'index', 'bit', 'before', 'after'], rows)}\n${header}`;
}

const pct = (v: number) => (v * 100).toFixed(2);

export function registerFaults(program: Command): void {
  const cmd = program.command('faults').description('fault plans: show the plan of a campaign trial, or replay a saved plan');

  const show = cmd
    .command('show')
    .description('print the fault plan a campaign with these options injects in one trial (table, --json or --out plan.json)')
    .option('--model <file>', 'ONNX model (plain or hardened)')
    .option('--ber <b>', 'bit error rate in (0, 1)', parseFloatOption('--ber'))
    .option('--trial <t>', 'trial index', parseIntOption('--trial', 0))
    .option('--seed <s>', 'campaign seed', parseIntOption('--seed', 0), 0)
    .option('--data <dir>', "with activation layers in --surface: the campaign's evaluation data (activation faults are drawn over the trial's images)")
    .option('--split <split>', 'train or test', 'test')
    .option('--eval-limit <n>', "with activation layers in --surface: the campaign's --eval-limit", parseIntOption('--eval-limit', 1))
    .option('--images <n>', "with activation layers in --surface: the trial's image count when it evaluated a random subset", parseIntOption('--images', 1))
    .option('--sampling <s>', "the campaign's sampling: plain, or stratified (trial h x 2^24 + j is the j-th trial of stratum h)", 'plain')
    .option('--json', 'print the plan as JSON')
    .option('--out <file>', 'write the plan as JSON to a file (for faults replay)');
  addFaultModelOptions(show)
    .action((o: ShowCli) => {
      if (!o.model) throw new ProactError('faults show: --model <file> is required');
      if (o.ber === undefined) throw new ProactError('faults show: --ber <b> is required (the bit error rate, e.g. 1e-5)');
      if (o.trial === undefined) throw new ProactError('faults show: --trial <t> is required (the trial index, from 0)');
      if (o.out !== undefined) guardOutputs([{ path: o.out, what: '--out' }], [{ path: o.model, what: '--model' }]);
      const surface = resolveFaultModel({ surface: o.surface });
      let evalCount: number | undefined;
      if (surface.activations.length > 0) {
        if (!o.data) throw new ProactError('faults show: activation faults are drawn over the trial\'s images: give --data (and --eval-limit) as in the campaign');
        const ds = openDataset(o.data, { split: o.split === 'train' ? 'train' : 'test' });
        evalCount = Math.min(ds.count, o.evalLimit ?? ds.count);
      }
      const { plan, surfaceBits } = planOfTrial({
        model: o.model,
        ber: o.ber,
        trial: o.trial,
        seed: o.seed,
        faults: faultModelFromFlags(o),
        sampling: parseSampling(o.sampling),
        ...(surface.activations.length > 0 ? { activations: surface.activations, evalCount: evalCount!, ...(o.images !== undefined ? { images: o.images } : {}) } : {}),
      });
      if (o.out) {
        writeFileAtomic(o.out, [planToJSON(plan, 2) + '\n'], 'the plan');
        log(`wrote the plan of trial ${plan.trial} (${plan.faults.length} faults in ${surfaceBits.toLocaleString('en-US')} stored bits) to ${o.out}`);
      }
      process.stdout.write((o.json ? planToJSON(plan) : planTable(plan)) + '\n');
    });

  cmd
    .command('replay')
    .description('apply a saved fault plan to its model and evaluate it: accuracy, SDC, DUE, sha256 of the faulty logits')
    .option('--model <file>', 'the ONNX model the plan was made for')
    .option('--plan <file>', "plan JSON written by 'proact faults show --out'")
    .option('--data <dir>', "evaluation data (CIFAR dir, MNIST IDX, .npy) or 'mnist'")
    .option('--split <split>', 'train or test', 'test')
    .option('--eval-limit <n>', 'evaluate the first n records only', parseIntOption('--eval-limit', 1))
    .option('--batch <n>', 'batch size (the campaign default; logits are hashed as computed at this size)', parseIntOption('--batch', 1), 250)
    .option('--threads <t>', 'onnxruntime intra-op threads', parseIntOption('--threads', 1), 2)
    .option('--bn <mode>', 'BatchNorm: fold or immune, as in the campaign that made the plan', 'fold')
    .option('--images <n>', "the trial's image count when it evaluated a random subset (the trial's 'images' in the store or CSV)", parseIntOption('--images', 1))
    .option('--surface <kinds>', "the campaign's --surface (needed for plans with activation faults)")
    .option('--json', 'print the result as JSON')
    .action(async (o: ReplayCli) => {
      if (!o.model) throw new ProactError('faults replay: --model <file> is required');
      if (!o.plan) throw new ProactError('faults replay: --plan <file> is required');
      if (!o.data) throw new ProactError('faults replay: --data <dir> is required');
      if (o.split !== 'train' && o.split !== 'test') throw new ProactError(`--split ${o.split}: expected train or test`);
      const opts: ReplayOptions = { model: o.model, plan: o.plan, data: o.data, split: o.split, batchSize: o.batch, threads: o.threads, foldBatchNorm: parseBatchNormMode(o.bn) };
      if (o.evalLimit !== undefined) opts.evalLimit = o.evalLimit;
      if (o.images !== undefined) opts.images = o.images;
      if (o.surface !== undefined) opts.surface = o.surface;
      const r = await replayPlan(opts);
      if (o.json) {
        process.stdout.write(JSON.stringify(r) + '\n');
        return;
      }
      process.stdout.write(
        [
          `plan      ${r.plan}: ${r.faults} faults, BER ${r.ber}, trial ${r.trial}, seed ${r.seed}, ${r.format}, surface ${r.surface.join(',')}`,
          `data      ${r.data} (${r.images} images)`,
          `clean     ${pct(r.cleanAccuracy)}%`,
          `accuracy  ${pct(r.accuracy)}%`,
          `SDC       ${pct(r.sdc)}%`,
          `DUE       ${pct(r.due)}%`,
          `logits    sha256 ${r.logitsSha256}`,
        ].join('\n') + '\n',
      );
    });
}
