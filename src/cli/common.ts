/**
 * Shared CLI plumbing: option parsing with one-line errors, progress bars with ETA on stderr, and
 * the action wrapper that turns a ProactError into a one-line message and exit code 2.
 */
import cliProgress from 'cli-progress';
import { ProactError, printable } from '../util/errors.js';
import { describeActivation, type ActivationFunction } from '../graph/index.js';
import type { Command } from 'commander';
import { DEFAULT_FAULT_MODEL, SURFACE_KINDS, parseBatchNormMode, resolveFaultModel, type FaultModel } from '../faults/index.js';

/**
 * Parses an integer option value (commander passes strings) in [min, max]. Empty text is refused (Number('')
 * is 0), and so is anything past 2^53 - 1, where doubles stop holding every integer (1e300 "is" one).
 */
export function parseIntOption(flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v: string) => {
    const n = v.trim() === '' ? NaN : Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new ProactError(`${flag} ${v.trim() === "" ? "''" : v}: expected an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max.toLocaleString('en-US')}`}`);
    }
    return n;
  };
}

export function parseFloatOption(flag: string): (v: string) => number {
  return (v: string) => {
    const n = v.trim() === '' ? NaN : Number(v);
    if (!Number.isFinite(n)) throw new ProactError(`${flag} ${v}: expected a number`);
    return n;
  };
}

/** A comma-separated list of numbers, e.g. --ber 1e-7,1e-6. */
export function parseNumberList(flag: string): (v: string) => number[] {
  return (v: string) => {
    const out = v.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
    if (out.length === 0 || out.some((n) => !Number.isFinite(n))) throw new ProactError(`${flag} ${v}: expected comma-separated numbers, e.g. 1e-7,1e-6`);
    // A value twice would be run (and counted) twice: 1e-6,1e-6 doubles the planned trials.
    const twice = out.find((n, i) => out.indexOf(n) !== i);
    if (twice !== undefined) throw new ProactError(`${flag} ${v}: ${twice} is given twice; list each value once`);
    return out;
  };
}

/** The fault-model flags a command reads (commander's values: strings and a switch). */
export interface FaultModelFlags {
  format: string;
  count: string;
  policy: string;
  referenceSurface?: boolean;
  surface: string;
  bn?: string;
  fault?: string;
}

/**
 * Declares the fault-model flags (--format, --count, --policy, --reference-surface, --surface and, unless
 * `bn` is false, --bn) on `command`, with `defaults` (DEFAULT_FAULT_MODEL unless given) and an optional
 * prefix for the help text (e.g. 'ftclipact: '). One declaration for campaign, faults show and harden.
 */
export function addFaultModelOptions(command: Command, o: { defaults?: Partial<FaultModel>; helpPrefix?: string; bn?: boolean; formatHelp?: string } = {}): Command {
  const d = { ...DEFAULT_FAULT_MODEL, ...o.defaults };
  const p = o.helpPrefix ?? '';
  command
    .option('--format <f>', o.formatHelp ?? `${p}stored number format: float32, q15.16 (any qM.N), int8, int8-channel, float16, bfloat16`, d.format)
    .option('--count <m>', `${p}fault count model: bernoulli, reference, poisson, fixed:K`, d.count)
    .option('--policy <p>', `${p}float32 flipped values: ieee (keep Inf/NaN) or reference (Inf/NaN -> +-1e31, tiny -> 0)`, d.policy)
    .option('--reference-surface', `${p}scalar thresholds and weight bounds are immune, as scalar thresholds in the reference toolbox`)
    .option('--surface <kinds>', `${p}what faults hit: comma-separated ${SURFACE_KINDS.join(',')} (stored tensors) and activation, activation:conv, activation:gemm, activation:act, activation:<node> (values layers produce, per image and inference)`, d.surface.join(','))
    .option('--fault <kind>', `${p}what a fault does to a stored bit: flip (transient), stuck-at-0 or stuck-at-1 (permanent cells)`, d.fault);
  if (o.bn !== false) command.option('--bn <mode>', `${p}BatchNorm: fold (into convs, then hit) or immune`, d.foldBatchNorm ? 'fold' : 'immune');
  return command;
}

/** The fault model of the flags declared by addFaultModelOptions, checked (one-line errors name the flag). */
export function faultModelFromFlags(f: FaultModelFlags): FaultModel {
  return resolveFaultModel({
    format: f.format,
    count: f.count,
    policy: f.policy,
    surface: f.surface,
    referenceSurface: f.referenceSurface === true,
    ...(f.bn === undefined ? {} : { foldBatchNorm: parseBatchNormMode(f.bn) }),
    ...(f.fault === undefined ? {} : { fault: f.fault }),
  });
}

export interface Progress {
  update(done: number, payload?: Record<string, string | number>): void;
  setTotal(total: number): void;
  stop(): void;
}

/** A progress bar with ETA on stderr (only on a terminal, and never with --json on stdout clobbered). */
export function progressBar(label: string, total: number, extraFormat = ''): Progress {
  if (!process.stderr.isTTY || process.env.PROACT_NO_PROGRESS) {
    return { update: () => {}, setTotal: () => {}, stop: () => {} };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% {value}/{total} ETA {eta_formatted}${extraFormat ? ' ' + extraFormat : ''}`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update: (done, payload) => bar.update(done, payload),
    setTotal: (t) => bar.setTotal(t),
    stop: () => bar.stop(),
  };
}

/** Writes a line to stderr (logs, seeds, decisions), keeping stdout for results and --json. */
export function log(message: string): void {
  // Line breaks the message means are kept; any other control character (from a path or a node name) is escaped.
  process.stderr.write(message.split('\n').map(printable).join('\n') + '\n');
}

/** Formats a table of rows (arrays of cells) with aligned columns. */
export function table(header: string[], rows: (string | number)[][]): string {
  // Cells quote node names and paths from the user's files: control characters are shown escaped.
  const cells = [header, ...rows.map((r) => r.map((c) => printable(String(c))))];
  // A loop, not Math.max(...cells): a spread of 100,000 rows (faults show at a high BER) overflows the stack.
  const widths = header.map((_, k) => cells.reduce((w, r) => Math.max(w, (r[k] ?? '').length), 0));
  const line = (r: string[]) => r.map((c, k) => (k === 0 ? c.padEnd(widths[k]!) : c.padStart(widths[k]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** "ReLU6 x35, ReLU x1": activation layers counted by function, in order of first appearance. */
export function activationCounts(fns: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const f of fns) counts.set(f, (counts.get(f) ?? 0) + 1);
  return [...counts].map(([f, n]) => `${describeActivation(f as ActivationFunction)} x${n}`).join(', ') || 'none';
}
