/** Runs the compiled `proact` CLI in a child process (tests run after `npm run build`). */
import { spawnSync, spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export const CLI = resolve(process.cwd(), 'dist/src/cli/main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How long one CLI run in a test may take before it is killed (a hang fails the test instead of the suite). */
export const CLI_TIMEOUT_MS = 120_000;

export function runCli(args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? CLI_TIMEOUT_MS,
    env: { ...process.env, PROACT_NO_PROGRESS: '1', ...opts.env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI; SIGKILLed after CLI_TIMEOUT_MS so that nothing waiting for its exit waits forever. */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, PROACT_NO_PROGRESS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: CLI_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
}

/** Asserts the CLI failed with the one-line user error format and exit code 2. */
export function expectUserError(r: CliResult, pattern: RegExp): void {
  const lines = r.stderr.trim().split('\n');
  if (r.code !== 2) throw new Error(`expected exit code 2, got ${r.code}; stderr: ${r.stderr}`);
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}: ${r.stderr}`);
  if (!pattern.test(lines[0]!)) throw new Error(`stderr ${JSON.stringify(lines[0])} does not match ${pattern}`);
  if (/\bat .*\.js:\d+/.test(r.stderr)) throw new Error(`stack trace printed: ${r.stderr}`);
}
