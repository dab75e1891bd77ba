/**
 * Command-line fuzz through the real executable (a child process per case), as a careless or hostile
 * user and a cluster scheduler would use proact. Each case starts from a valid command line of one
 * command (on a tiny model and the built-in MNIST, in a fresh sandbox folder holding the input files),
 * replaces or adds one to three flag values by hostile ones (0, negative, NaN, Infinity, 1e309, huge
 * integers, empty, long, control characters, folders, FIFOs, /dev/zero, missing folders, the inputs
 * named as outputs), and sometimes sends SIGINT or SIGTERM while it runs. The invariants:
 *
 * - exit code 0, 2, 130 or 143 (or the end by a SIGINT / SIGTERM the fuzz sent): never 1 (internal
 *   error), 134 (abort), 139 (segfault), nor a process still alive 60 s after a SIGTERM;
 * - an error is one line (`proact: ...`) without a stack trace;
 * - every input file is byte-identical afterwards;
 * - no file is created outside the named outputs (and onnxruntime writes no /tmp/mat-debug-<pid>.log).
 *
 * Seeded: (seed, cases) gives the same command lines. `npm test` runs a short version
 * (cli-process.test.ts), `npm run fuzz` a long one (long.ts, --cli-cases).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { mulberry32 } from '../../src/data/index.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';

const CLI = resolve(process.cwd(), 'dist/src/cli/main.js');

export interface CliFuzzOptions {
  cases: number;
  seed: number;
  /** A case still running after this long gets SIGTERM (default 20 s); 60 s later, SIGKILL and a failure. */
  deadlineMs?: number;
  onCase?: (c: CliCase, r: CliCaseResult) => void;
}

export interface CliCase {
  index: number;
  argv: string[];
  /** Signal sent while it runs, and after how many ms. */
  signal?: { name: 'SIGINT' | 'SIGTERM'; afterMs: number };
}

export interface CliCaseResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  failures: string[];
}

export interface CliFuzzReport {
  cases: number;
  /** By exit: 'exit 0', 'exit 2', 'exit 130', 'exit 143', 'SIGTERM', ... */
  outcomes: Record<string, number>;
  signalled: number;
  deadlines: number;
  failures: { argv: string[]; signal?: string; problems: string[] }[];
  seconds: number;
}

/** The input files of every case, made once: a model, a results store, a fault plan, thresholds. */
interface Fixtures {
  dir: string;
  files: Record<'model' | 'store' | 'plan' | 'thresholds', string>;
}

function makeFixtures(): Fixtures {
  const dir = mkdtempSync(join(tmpdir(), 'proact-clifuzz-fixtures-'));
  const model = writeTinyCnn(join(dir, 'model.onnx'));
  const run = (args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, PROACT_NO_PROGRESS: '1' } });
    if (r.status !== 0) throw new Error(`fixture: proact ${args.join(' ')} failed: ${r.stderr}`);
  };
  run(['campaign', '--model', model, '--data', 'mnist', '--eval-limit', '20', '--ber', '1e-3,1e-2', '--trials', '2', '--db', join(dir, 'store.sqlite'), '--json']);
  run(['faults', 'show', '--model', model, '--ber', '1e-4', '--trial', '0', '--out', join(dir, 'plan.json'), '--json']);
  run(['harden', '--method', 'ranger', '--model', model, '--data', 'mnist', '--profile-images', '64', '--validation', '100', '--out', join(dir, 'hardened.onnx'), '--json']);
  // A store with its WAL checkpointed, so reading it later changes nothing.
  for (const f of readdirSync(dir)) if (/-(wal|shm)$/.test(f) || f.endsWith('.profile.json') || f.endsWith('.decisions.json')) rmSync(join(dir, f));
  return { dir, files: { model, store: join(dir, 'store.sqlite'), plan: join(dir, 'plan.json'), thresholds: join(dir, 'hardened.thresholds.json') } };
}

/** A valid command line per command; `{x}` is a sandbox path. Output flags are listed so the check knows them. */
const TEMPLATES: string[][] = [
  ['eval', '--model', '{model}', '--data', 'mnist', '--limit', '20'],
  ['campaign', '--model', '{model}', '--data', 'mnist', '--eval-limit', '20', '--trials', '2', '--ber', '1e-3', '--db', '{out.sqlite}'],
  ['campaign', '--model', '{model}', '--data', 'mnist', '--eval-limit', '20', '--trials', '3', '--ber', '1e-3,1e-2', '--db', '{out.sqlite}', '--csv', '{out.csv}', '--workers', '2'],
  ['campaign', 'merge', '{store}', '--out', '{merged.sqlite}'],
  ['campaign', 'export', '{store}'],
  ['campaign', 'compare', '{store}', '1', '1'],
  ['faults', 'show', '--model', '{model}', '--ber', '1e-4', '--trial', '0', '--out', '{out-plan.json}'],
  ['faults', 'replay', '--model', '{model}', '--plan', '{plan}', '--data', 'mnist', '--eval-limit', '20'],
  ['harden', '--method', 'ranger', '--model', '{model}', '--data', 'mnist', '--profile-images', '64', '--validation', '100', '--out', '{h.onnx}'],
  ['harden', '--model', '{model}', '--data', 'mnist', '--thresholds', '{thresholds}', '--validation', '100', '--out', '{applied.onnx}'],
  ['overhead', '--model', '{model}'],
  ['train', '--arch', 'lenet', '--data', 'mnist', '--limit', '64', '--epochs', '1', '--out', '{trained.onnx}', '--seed', '1'],
  ['report', '{store}', '--out', '{report-out}'],
];

/** Flags whose values name files or folders the command writes. */
const OUTPUT_FLAGS = new Set(['--out', '--db', '--csv', '--checkpoint']);

function hostileValues(sandbox: string, f: Fixtures): string[] {
  return [
    '0', '-1', '-0', 'NaN', 'Infinity', '-Infinity', '1e309', '1e300', '4294967296', '9007199254740993', '1000000', '1e-320', '0.5', '3.7',
    '', ' ', 'x'.repeat(300), '\u001b[31mred\u001b[0m', 'a\nb', '1e-3,1e-3', '1/0', '2/1', 'q0.0', 'fixed:-1',
    join(sandbox, 'dir'), join(sandbox, 'fifo'), '/dev/zero', join(sandbox, 'missing', 'x.onnx'), join(sandbox, 'n'.repeat(300)),
    join(sandbox, 'd/'.repeat(2100)) + 'x',
    ...Object.keys(f.files).map((name) => join(sandbox, `${name}-input`)), join(sandbox, 'model-link.onnx'),
  ];
}

/** Flags worth setting on any command (each command refuses the ones it lacks). */
const EXTRA_FLAGS = ['--out', '--db', '--csv', '--model', '--data', '--seed', '--trials', '--workers', '--ber', '--batch', '--eval-limit', '--limit', '--threads', '--checkpoint', '--plan', '--thresholds', '--shard', '--scale', '--validation', '--profile-images', '--precision', '--format', '--count'];

export function generateCase(index: number, seed: number, sandbox: string, f: Fixtures): CliCase {
  const random = mulberry32(seed * 1_000_003 + index);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const values = hostileValues(sandbox, f);
  const argv = pick(TEMPLATES).map((a) => a.replace(/^\{(.+)\}$/, (_, name: string) => (name in f.files ? join(sandbox, `${name}-input`) : join(sandbox, name))));
  const edits = 1 + Math.floor(random() * 3);
  for (let e = 0; e < edits; e++) {
    const flagPositions = argv.map((a, i) => (a.startsWith('--') && i + 1 < argv.length && !argv[i + 1]!.startsWith('--') ? i : -1)).filter((i) => i >= 0);
    const r = random();
    if (r < 0.45 && flagPositions.length > 0) argv[pick(flagPositions) + 1] = pick(values); // replace a value
    else if (r < 0.7 && flagPositions.length > 0) {
      // An output named as an input (or an input as an output): the files must survive.
      const outputs = flagPositions.filter((i) => OUTPUT_FLAGS.has(argv[i]!));
      const inputs = argv.filter((a) => a.endsWith('-input'));
      if (outputs.length > 0 && inputs.length > 0) argv[pick(outputs) + 1] = pick(inputs);
      else argv[pick(flagPositions) + 1] = pick(values);
    } else argv.push(pick(EXTRA_FLAGS), pick(values));
  }
  const c: CliCase = { index, argv };
  if (random() < 0.2) c.signal = { name: random() < 0.5 ? 'SIGINT' : 'SIGTERM', afterMs: Math.floor(200 + random() * 2_800) };
  return c;
}

function hashTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const s = statSync(p, { throwIfNoEntry: false });
      if (!s) continue;
      if (s.isDirectory()) visit(p);
      else if (s.isFile()) out.set(p, createHash('sha256').update(readFileSync(p)).digest('hex'));
      else out.set(p, 'special');
    }
  };
  visit(dir);
  return out;
}

/** Files a case may create: its named outputs, what sits beside them, and the default outputs in its folder. */
function allowedNew(path: string, c: CliCase, sandbox: string): boolean {
  const named: string[] = [];
  c.argv.forEach((a, i) => {
    if (OUTPUT_FLAGS.has(a) && i + 1 < c.argv.length) named.push(resolve(sandbox, c.argv[i + 1]!));
  });
  // Defaults: campaign --db results.sqlite, report --out report, demo --out demo-report.
  named.push(join(sandbox, 'results.sqlite'), join(sandbox, 'report'), join(sandbox, 'demo-report'));
  return named.some((n) => {
    const stem = n.replace(/\.(onnx|sqlite|json|csv)$/i, '');
    return path === n || path.startsWith(`${n}/`) || path.startsWith(`${n}-`) || path.startsWith(`${n}.`) || path.startsWith(`${stem}.`);
  });
}

function runCase(c: CliCase, sandbox: string, deadlineMs: number): Promise<CliCaseResult & { stderr: string; pid: number; startedAt: number }> {
  return new Promise((resolvePromise) => {
    const t0 = performance.now();
    const startedAt = Date.now();
    const child = spawn(process.execPath, [CLI, ...c.argv], { cwd: sandbox, env: { ...process.env, PROACT_NO_PROGRESS: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    const failures: string[] = [];
    const timers: NodeJS.Timeout[] = [];
    if (c.signal) timers.push(setTimeout(() => child.kill(c.signal!.name), c.signal.afterMs));
    timers.push(
      setTimeout(() => {
        child.kill('SIGTERM');
        timers.push(
          setTimeout(() => {
            failures.push('still running 60 s after SIGTERM (a hang)');
            child.kill('SIGKILL');
          }, 60_000),
        );
      }, deadlineMs),
    );
    child.on('exit', (code, signal) => {
      for (const t of timers) clearTimeout(t);
      resolvePromise({ code, signal, ms: performance.now() - t0, failures, stderr, pid: child.pid ?? -1, startedAt });
    });
  });
}

/** Runs the fuzz; the report lists every case that broke an invariant. */
export async function runCliFuzz(o: CliFuzzOptions): Promise<CliFuzzReport> {
  const started = performance.now();
  const deadlineMs = o.deadlineMs ?? 20_000;
  const fixtures = makeFixtures();
  const report: CliFuzzReport = { cases: 0, outcomes: {}, signalled: 0, deadlines: 0, failures: [], seconds: 0 };
  try {
    for (let index = 0; index < o.cases; index++) {
      const sandbox = mkdtempSync(join(tmpdir(), 'proact-clifuzz-'));
      for (const [name, path] of Object.entries(fixtures.files)) copyFileSync(path, join(sandbox, `${name}-input`));
      mkdirSync(join(sandbox, 'dir'));
      writeFileSync(join(sandbox, 'dir', 'keep.txt'), 'a file inside a folder given as a path\n');
      spawnSync('mkfifo', [join(sandbox, 'fifo')]);
      spawnSync('ln', ['-s', join(sandbox, 'model-input'), join(sandbox, 'model-link.onnx')]);
      const c = generateCase(index, o.seed, sandbox, fixtures);
      const before = hashTree(sandbox);
      const r = await runCase(c, sandbox, deadlineMs);
      const failures = [...r.failures];
      const sent = c.signal?.name;
      const deadline = r.ms >= deadlineMs;
      const bySignal = r.signal !== null && (r.signal === sent || (deadline && r.signal === 'SIGTERM'));
      if (r.signal !== null && !bySignal) failures.push(`killed by ${r.signal}`);
      if (r.code !== null && ![0, 2, 130, 143].includes(r.code)) failures.push(`exit ${r.code}`);
      if ((r.code === 130 || r.code === 143) && !sent && !deadline) failures.push(`exit ${r.code} without a signal`);
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
      if (/^\s+at .+:\d+/m.test(r.stderr)) failures.push('stack trace on stderr');
      if (/internal error|terminate called|Napi::Error|Segmentation|FATAL ERROR/.test(r.stderr)) failures.push('crash text on stderr');
      if (r.code === 2) {
        const errors = lines.filter((l) => l.startsWith('proact: '));
        if (errors.length !== 1) failures.push(`${errors.length} 'proact:' error lines`);
        if (!lines.at(-1)?.startsWith('proact: ')) failures.push('the error is not the last line');
      }
      const after = hashTree(sandbox);
      for (const [path, hash] of before) {
        if (!path.endsWith('-input') && !path.includes('/dir/') && !path.endsWith('model-link.onnx')) continue;
        const now = after.get(path);
        if (now !== hash) failures.push(`input ${relative(sandbox, path)} ${now === undefined ? 'deleted' : 'changed'}`);
      }
      for (const path of after.keys()) if (!before.has(path) && !allowedNew(path, c, sandbox)) failures.push(`created ${relative(sandbox, path)} outside the named outputs`);
      // Only a log written during this case counts: an earlier process with the same pid (one run before
      // telemetry was turned off, on a machine that kept its /tmp) may have left one.
      const debugLog = statSync(`/tmp/mat-debug-${r.pid}.log`, { throwIfNoEntry: false });
      if (debugLog && debugLog.mtimeMs >= r.startedAt - 1000) failures.push(`onnxruntime wrote /tmp/mat-debug-${r.pid}.log`);
      const outcome = r.signal ?? `exit ${r.code}`;
      report.outcomes[outcome] = (report.outcomes[outcome] ?? 0) + 1;
      report.cases++;
      if (sent) report.signalled++;
      if (deadline) report.deadlines++;
      if (failures.length > 0) report.failures.push({ argv: c.argv.map((a) => a.replace(sandbox, '$SANDBOX')), ...(sent ? { signal: `${sent} after ${c.signal!.afterMs} ms` } : {}), problems: [...failures, `stderr: ${lines.slice(-3).join(' | ')}`] });
      o.onCase?.(c, { code: r.code, signal: r.signal, ms: r.ms, failures });
      rmSync(sandbox, { recursive: true, force: true });
    }
  } finally {
    rmSync(fixtures.dir, { recursive: true, force: true });
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}
