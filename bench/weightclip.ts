/**
 * `npm run bench -- weightclip`: the experiment behind the weight-clipping section of docs/results.md.
 * For each model it writes the hardened arms (weight-clip, ranger-zero, ranger-zero + weight-clip), runs
 * one campaign per arm under two protocols, and writes the tables (Markdown) from the campaign
 * databases:
 *
 * - float32: bernoulli counts, IEEE flips, every stored value hit (bounds and thresholds included);
 * - paper: the reference toolbox's protocol (Q15.16, reference count and float policy, reference
 *   surface: scalar thresholds and scalar weight bounds immune).
 *
 * Budgets come from the environment so the doc can state them: WEIGHTCLIP_MODELS (resnet20,
 * resnet56-akamaster, alexnet-cifar, vgg16-cifar), WEIGHTCLIP_ARMS (unprotected, weight-clip,
 * ranger-zero, ranger-zero+weight-clip; also fitact+weight-clip, proact+weight-clip and their plain
 * methods, which need long threshold training), WEIGHTCLIP_BERS (1e-6,1e-5,3e-5), WEIGHTCLIP_TRIALS (20,
 * float32), WEIGHTCLIP_PAPER_TRIALS (10), WEIGHTCLIP_EVAL (500 test images), WEIGHTCLIP_SEED (7),
 * WEIGHTCLIP_DIR (weightclip-run), WEIGHTCLIP_WORKERS (2, as `bench -- results`), WEIGHTCLIP_TABLES (the Markdown file, default
 * <dir>/weightclip.md). Hardened models on disk are reused and campaigns resume from their
 * databases, so an interrupted run picks up where it stopped; a second run only rewrites the tables.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { compareCampaigns, openStore, summarizeCampaign, type CampaignRecord, type ResultStore, type Summary } from '../src/campaign/index.js';
import { writeFileAtomic } from '../src/util/files.js';
import { CLI, requireShared } from './common.js';

/**
 * An arm: how `proact harden` makes it (nothing for the unprotected model). An arm that adds weight
 * bounds to another (`base`) applies that arm's saved thresholds when it exists (`--thresholds`), so
 * the pair differs only by the bounds and the profiling is not repeated.
 */
interface Arm {
  name: string;
  harden?: string[];
  base?: string;
}

const ARMS: Arm[] = [
  { name: 'unprotected' },
  { name: 'weight-clip', harden: ['--method', 'weight-clip'] },
  { name: 'ranger-zero', harden: ['--method', 'ranger-zero'] },
  { name: 'ranger-zero+weight-clip', harden: ['--method', 'ranger-zero', '--weight-clip', 'tensor'], base: 'ranger-zero' },
  { name: 'fitact', harden: ['--method', 'fitact'] },
  { name: 'fitact+weight-clip', harden: ['--method', 'fitact', '--weight-clip', 'tensor'], base: 'fitact' },
  { name: 'proact', harden: ['--method', 'proact'] },
  { name: 'proact+weight-clip', harden: ['--method', 'proact', '--weight-clip', 'tensor'], base: 'proact' },
];

const PROTOCOLS = {
  float32: { label: 'float32, bernoulli counts, IEEE flips, every stored value hit', args: [] as string[] },
  paper: { label: 'Q15.16, `--count reference --policy reference --reference-surface` (the paper\'s protocol)', args: ['--format', 'q15.16', '--count', 'reference', '--policy', 'reference', '--reference-surface'] },
};
type Protocol = keyof typeof PROTOCOLS;

function proact(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PROACT_NO_PROGRESS: '1' }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`proact ${args.join(' ')} failed with ${r.status}`);
  return r.stdout;
}

const pct = (x: number) => (x * 100).toFixed(1);

/** `mean ± half-width` of a campaign summary, as `proact campaign` prints it (the interval is the summary's). */
function interval(s: Summary): string {
  return Number.isFinite(s.ciHalfWidth) ? `${pct(s.mean)} ± ${pct(s.ciHalfWidth)}` : pct(s.mean);
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export async function benchWeightClip(): Promise<Record<string, unknown>> {
  const models = (process.env.WEIGHTCLIP_MODELS ?? 'resnet20,resnet56-akamaster,alexnet-cifar,vgg16-cifar').split(',');
  const armNames = (process.env.WEIGHTCLIP_ARMS ?? 'unprotected,weight-clip,ranger-zero,ranger-zero+weight-clip').split(',');
  const arms = armNames.map((n) => {
    const arm = ARMS.find((a) => a.name === n);
    if (!arm) throw new Error(`WEIGHTCLIP_ARMS: unknown arm '${n}'; use ${ARMS.map((a) => a.name).join(', ')}`);
    return arm;
  });
  const bers = process.env.WEIGHTCLIP_BERS ?? '1e-6,1e-5,3e-5';
  const trials: Record<Protocol, string> = { float32: process.env.WEIGHTCLIP_TRIALS ?? '20', paper: process.env.WEIGHTCLIP_PAPER_TRIALS ?? '10' };
  const evalLimit = process.env.WEIGHTCLIP_EVAL ?? '500';
  const seed = process.env.WEIGHTCLIP_SEED ?? '7';
  const dir = process.env.WEIGHTCLIP_DIR ?? 'weightclip-run';
  const workers = process.env.WEIGHTCLIP_WORKERS ?? '2';
  mkdirSync(dir, { recursive: true });
  // Relative paths, as a user types them: the database records the model path each campaign ran on.
  const data = relative(process.cwd(), requireShared('data/cifar10-jpeg75'));
  const modelPaths = new Map<string, string>(); // `${model}/${arm}` -> ONNX path

  for (const model of models) {
    const source = relative(process.cwd(), requireShared(`models/${model}.onnx`));
    for (const arm of arms) {
      let path = source;
      if (arm.harden) {
        path = join(dir, `${model}-${arm.name}.onnx`);
        const saved = arm.base ? join(dir, `${model}-${arm.base}.thresholds.json`) : undefined;
        const how = saved && existsSync(saved) ? ['--thresholds', saved, '--weight-clip', 'tensor'] : arm.harden;
        if (!existsSync(path)) proact(['harden', ...how, '--model', source, '--data', data, '--out', path, '--seed', '0', '--json']);
      }
      modelPaths.set(`${model}/${arm.name}`, path);
      for (const protocol of Object.keys(PROTOCOLS) as Protocol[]) {
        const db = join(dir, `${protocol}.sqlite`);
        proact(['campaign', '--model', path, '--data', data, '--ber', bers, '--trials', trials[protocol], '--eval-limit', evalLimit, '--seed', seed, '--workers', workers, ...PROTOCOLS[protocol].args, '--db', db, '--resume', '--json']);
        process.stderr.write(`${model} ${arm.name} ${protocol} done\n`);
      }
    }
  }

  const sections: string[] = [];
  const rows: Record<string, unknown>[] = [];
  for (const protocol of Object.keys(PROTOCOLS) as Protocol[]) {
    const store = openStore(join(dir, `${protocol}.sqlite`), { readonly: true });
    try {
      const campaigns = store.listCampaigns();
      const find = (model: string, arm: string): CampaignRecord | undefined => campaigns.find((c) => c.modelPath === modelPaths.get(`${model}/${arm}`));
      const berList = bers.split(',').map(Number);
      const header = ['model', 'arm', 'clean', ...berList.map((b) => `${b.toExponential(0)}`), `worst trial at ${berList[berList.length - 1]!.toExponential(0)}`];
      const lines: string[][] = [];
      for (const model of models) {
        for (const arm of arms) {
          const c = find(model, arm.name);
          if (!c) continue;
          const s = summarizeCampaign(store, c.id);
          const at = (ber: number) => s.perBer.find((b) => b.ber === ber);
          lines.push([model, arm.name, pct(c.cleanAccuracy ?? NaN), ...berList.map((b) => (at(b) ? interval(at(b)!.accuracy) : '-')), at(berList[berList.length - 1]!) ? pct(at(berList[berList.length - 1]!)!.accuracy.min) : '-']);
          rows.push({ protocol, model, arm: arm.name, clean: c.cleanAccuracy, perBer: s.perBer.map((b) => ({ ber: b.ber, n: b.accuracy.n, mean: b.accuracy.mean, ciHalfWidth: b.accuracy.ciHalfWidth, min: b.accuracy.min })) });
        }
      }
      sections.push(`**${PROTOCOLS[protocol].label}** (accuracy %, mean ± 95% CI over trials, ${trials[protocol]} trials per BER, first ${evalLimit} test images, seed ${seed})\n\n${table(header, lines)}`);
      const paired = pairedRows(store, models, find, berList);
      if (paired.length > 0) sections.push(`Paired differences (accuracy points, trial i against trial i; same seed and images):\n\n${table(['model', 'comparison', ...berList.map((b) => b.toExponential(0))], paired)}`);
    } finally {
      store.close();
    }
  }
  const markdown = sections.join('\n\n') + '\n';
  const tables = process.env.WEIGHTCLIP_TABLES ?? join(dir, 'weightclip.md');
  writeFileAtomic(tables, [markdown], 'weight-clip tables');
  process.stderr.write(markdown);
  return { bench: 'weightclip', models, arms: armNames, bers, trials, evalImages: Number(evalLimit), seed: Number(seed), tables, campaigns: rows };
}

/** Each arm with weight bounds against the same arm without them, where both ran. */
function pairedRows(store: ResultStore, models: string[], find: (model: string, arm: string) => CampaignRecord | undefined, bers: number[]): string[][] {
  const out: string[][] = [];
  for (const model of models) {
    for (const [withBounds, without] of [
      ['weight-clip', 'unprotected'],
      ['ranger-zero+weight-clip', 'ranger-zero'],
      ['weight-clip', 'ranger-zero'],
      ['fitact+weight-clip', 'fitact'],
      ['proact+weight-clip', 'proact'],
    ] as const) {
      const a = find(model, withBounds);
      const b = find(model, without);
      if (!a || !b) continue;
      const cmp = compareCampaigns(store, a.id, b.id);
      out.push([model, `${withBounds} − ${without}`, ...bers.map((ber) => {
        const p = cmp.perBer.find((x) => x.ber === ber);
        return p ? interval(p.accuracyDifference) : '-';
      })]);
    }
  }
  return out;
}
