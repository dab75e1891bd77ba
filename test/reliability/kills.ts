/**
 * Kill harness: runs a `proact` command, SIGKILLs it at seeded random moments, runs it again (resuming)
 * until it completes, and checks that what it leaves on disk is always consistent. Used by
 * kills.test.ts (a few kills in `npm test`) and kill-run.ts (the counts in docs/reliability.md).
 *
 * - Campaign: after every kill the database passes `PRAGMA integrity_check`, every stored trial equals
 *   the same trial of an uninterrupted run, and no trial stored before a kill is ever lost; at the end
 *   the trials are exactly those of the uninterrupted run, each once.
 * - ProAct hardening: after the kills, the thresholds and the accept/rollback decisions equal those of
 *   an uninterrupted run.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { CLI, runCli, type CliResult } from '../helpers/cli.js';
export { mulberry32 } from '../../src/data/index.js';
import { mulberry32 } from '../../src/data/index.js';


export interface KillOptions {
  kills: number;
  seed: number;
  /** Kill moments are drawn uniformly in [minDelayMs, maxDelayMs] after the start of each run. */
  minDelayMs: number;
  maxDelayMs: number;
  /**
   * Campaigns only: instead of a moment, each run is killed as soon as the database holds k more
   * trials than when it started, k drawn uniformly in [min, max] (k = 0: at a moment drawn as above,
   * during start-up). A timed kill can land after a short campaign has finished and then proves
   * nothing; this one lands while trials are pending, as long as k is below what is left.
   */
  afterTrials?: { min: number; max: number };
}

export interface KillRecord {
  /** Milliseconds after the start when SIGKILL was sent (or when the run ended by itself first). */
  delayMs: number;
  /** The run finished before its kill moment (then the loop stops). */
  finishedFirst: boolean;
  /** For campaigns: trials stored after the kill; for hardening: layers done in the checkpoint. */
  progress: number;
}

interface RunOutcome {
  /** The process died of the SIGKILL sent here (not of its own accord before it). */
  killed: boolean;
  code: number | null;
  stderr: string;
  /** Milliseconds after the start when SIGKILL was sent, or when the process ended. */
  atMs: number;
}

/** When to kill: after `delayMs`, or (polled every 20 ms) once `when()` is true. */
export type KillTrigger = { delayMs: number } | { when: () => boolean };

/** Starts the CLI and SIGKILLs it when `trigger` says, unless it ends first. */
export function runAndKill(args: string[], trigger: KillTrigger): Promise<RunOutcome> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, PROACT_NO_PROGRESS: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let sentAt: number | undefined;
    const kill = () => {
      if (child.kill('SIGKILL')) sentAt = performance.now() - t0;
    };
    const timer = 'delayMs' in trigger ? setTimeout(kill, trigger.delayMs) : setInterval(() => trigger.when() && kill(), 20);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const killed = signal === 'SIGKILL' && sentAt !== undefined;
      resolve({ killed, code, stderr, atMs: Math.round(killed ? sentAt! : performance.now() - t0) });
    });
  });
}

// ------------------------------------------------------------------ campaigns

export type TrialRow = { ber: number; trial: number; accuracy: number; sdc: number; due: number; faults: number };

export interface DbState {
  integrity: string;
  trials: TrialRow[];
  /** Rows minus distinct (campaign, ber, trial): duplicates (0 when none). */
  duplicates: number;
  status: string | undefined;
}

/** Opens a campaign database the way the next run would (recovering its WAL) and reads its state. */
export function readDb(path: string): DbState | undefined {
  if (!existsSync(path)) return undefined;
  const db = new Database(path);
  try {
    const integrity = (db.pragma('integrity_check', { simple: true }) as string) ?? '';
    const hasTrials = db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'trials'").pluck().get() === 1;
    if (!hasTrials) return { integrity, trials: [], duplicates: 0, status: undefined };
    const trials = db.prepare('SELECT ber, trial, accuracy, sdc, due, faults FROM trials ORDER BY ber, trial').all() as TrialRow[];
    const distinct = Number(db.prepare('SELECT count(*) FROM (SELECT DISTINCT campaign_id, ber, trial FROM trials)').pluck().get());
    const status = db.prepare('SELECT status FROM campaigns ORDER BY id LIMIT 1').pluck().get() as string | undefined;
    return { integrity, trials, duplicates: trials.length - distinct, status };
  } finally {
    db.close();
  }
}

export const trialKeyOf = (t: TrialRow): string => `${t.ber}:${t.trial}`;

/** Trials stored so far, read without disturbing the process writing them (0 before the table exists). */
function countStored(path: string): number {
  if (!existsSync(path)) return 0;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return Number(db.prepare('SELECT count(*) FROM trials').pluck().get());
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

/**
 * SIGKILLs that hit a run while trials were still pending: the process died of the kill and the
 * database then held fewer than `total` trials. The proof that a kill test killed something.
 */
export function killsWhilePending(records: readonly KillRecord[], total: number): number {
  return records.filter((r) => !r.finishedFirst && r.progress < total).length;
}

export interface CampaignKillResult {
  records: KillRecord[];
  /** Problems found after kills (empty when every check passed). */
  problems: string[];
  final: DbState;
  finalRun: CliResult;
}

/**
 * Kills `proact campaign <args> --db <db> --resume` `opts.kills` times (fewer if a run completes
 * first), checking the database after each kill against `reference` (the trials of an uninterrupted
 * run), then runs it to the end.
 */
export async function killCampaign(args: string[], db: string, reference: TrialRow[], opts: KillOptions): Promise<CampaignKillResult> {
  const rnd = mulberry32(opts.seed);
  const expected = new Map(reference.map((t) => [trialKeyOf(t), JSON.stringify(t)]));
  const records: KillRecord[] = [];
  const problems: string[] = [];
  let stored = new Set<string>();
  for (let k = 0; k < opts.kills; k++) {
    const delayMs = Math.round(opts.minDelayMs + rnd() * (opts.maxDelayMs - opts.minDelayMs));
    const after = opts.afterTrials && opts.afterTrials.min + Math.floor(rnd() * (opts.afterTrials.max - opts.afterTrials.min + 1));
    const target = stored.size + (after ?? 0);
    const trigger: KillTrigger = after ? { when: () => countStored(db) >= target } : { delayMs };
    const run = await runAndKill(['campaign', ...args, '--db', db, '--resume'], trigger);
    if (!run.killed && run.code !== 0) problems.push(`run ${k + 1} failed (code ${run.code}): ${run.stderr.trim().split('\n').pop()}`);
    const state = readDb(db);
    const now = new Set(state?.trials.map(trialKeyOf) ?? []);
    if (state && state.integrity !== 'ok') problems.push(`after kill ${k + 1}: integrity_check says ${state.integrity}`);
    if (state && state.duplicates !== 0) problems.push(`after kill ${k + 1}: ${state.duplicates} duplicated trials`);
    for (const key of stored) if (!now.has(key)) problems.push(`after kill ${k + 1}: trial ${key}, stored before, is lost`);
    for (const t of state?.trials ?? []) {
      const want = expected.get(trialKeyOf(t));
      if (want !== JSON.stringify(t)) problems.push(`after kill ${k + 1}: trial ${trialKeyOf(t)} is ${JSON.stringify(t)}, the uninterrupted run has ${want ?? 'no such trial'}`);
    }
    stored = now;
    records.push({ delayMs: run.atMs, finishedFirst: !run.killed, progress: now.size });
    if (!run.killed) break;
  }
  const finalRun = runCli(['campaign', ...args, '--db', db, '--resume']);
  if (finalRun.code !== 0) problems.push(`final resume failed (code ${finalRun.code}): ${finalRun.stderr.trim()}`);
  const final = readDb(db)!;
  return { records, problems, final, finalRun };
}

// ------------------------------------------------------------------ hardening

export interface HardenFiles {
  thresholds: string;
  /** The decisions without timing fields (seconds, images processed differ between resumed runs). */
  decisions: string;
}

/** The outputs of `proact harden --out <out>` that must not depend on interruptions. */
export function hardenFiles(out: string): HardenFiles {
  const base = out.replace(/\.onnx$/, '');
  const decisions = JSON.parse(readFileSync(`${base}.decisions.json`, 'utf8')) as { decisions: unknown[]; validationAccuracy: number; method: string; seed: number };
  return {
    thresholds: readFileSync(`${base}.thresholds.json`, 'utf8'),
    decisions: JSON.stringify({ method: decisions.method, seed: decisions.seed, validationAccuracy: decisions.validationAccuracy, decisions: decisions.decisions }),
  };
}

/** Layers finished according to the checkpoint beside `out`: 0 when there is none, -1 when it cannot be read. */
export function checkpointLayers(out: string): number {
  const path = `${out.replace(/\.onnx$/, '')}.checkpoint.json`;
  if (!existsSync(path)) return 0;
  try {
    const ck = JSON.parse(readFileSync(path, 'utf8')) as { state?: { done?: unknown } };
    return Array.isArray(ck.state?.done) ? ck.state.done.length : -1;
  } catch {
    return -1;
  }
}

export interface HardenKillResult {
  records: KillRecord[];
  problems: string[];
  files: HardenFiles;
}

/** Kills `proact harden <args>` (which resumes from its checkpoint by itself) `opts.kills` times, then runs it to the end. */
export async function killHarden(args: string[], out: string, opts: KillOptions): Promise<HardenKillResult> {
  const rnd = mulberry32(opts.seed);
  const records: KillRecord[] = [];
  const problems: string[] = [];
  for (let k = 0; k < opts.kills; k++) {
    const delayMs = Math.round(opts.minDelayMs + rnd() * (opts.maxDelayMs - opts.minDelayMs));
    const run = await runAndKill(['harden', ...args, '--out', out], { delayMs });
    if (!run.killed && run.code !== 0) problems.push(`run ${k + 1} failed (code ${run.code}): ${run.stderr.trim().split('\n').pop()}`);
    const layers = checkpointLayers(out);
    if (layers < 0) problems.push(`after kill ${k + 1}: the checkpoint is not valid JSON`);
    records.push({ delayMs: run.atMs, finishedFirst: !run.killed, progress: layers });
    if (!run.killed) break;
  }
  const finalRun = runCli(['harden', ...args, '--out', out]);
  if (finalRun.code !== 0) {
    problems.push(`final run failed (code ${finalRun.code}): ${finalRun.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    return { records, problems, files: { thresholds: '', decisions: '' } };
  }
  return { records, problems, files: hardenFiles(out) };
}
