/**
 * One way to stop, for every long command (campaign, campaign --queue, harden, worker): the first SIGINT
 * (Ctrl-C) or SIGTERM (what Slurm and Kubernetes send) prints one line and asks the command to stop
 * handing out work; it finishes or abandons what runs, records the stop (a campaign is marked
 * `interrupted`) and exits 130 after SIGINT, 143 after SIGTERM, so a scheduler never takes an
 * interrupted shard for a success. A second signal ends the process at once by that signal (the shell
 * sees 130 / 143): the default action of the signal, not process.exit, which would tear down worker
 * threads inside an onnxruntime call and abort with "terminate called after throwing Napi::Error".
 */
import { log } from './common.js';

export type StopSignalName = 'SIGINT' | 'SIGTERM';

export interface StopRequest {
  /** True once a stop was asked for (what the campaign engine polls). */
  aborted: boolean;
  /** The signal that asked, once one did. */
  signal?: StopSignalName;
}

export interface StopHandle {
  readonly request: StopRequest;
  /** 130 after SIGINT, 143 after SIGTERM, undefined when no signal came. */
  exitCode(): number | undefined;
  /** Removes the handlers (the command finished). */
  dispose(): void;
}

export const SIGNAL_EXIT_CODES: Record<StopSignalName, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Installs the handlers; `message` is the one line printed on the first signal, `onStop` runs then
 * (e.g. an AbortController's abort).
 */
export function stopOnSignals(message: (signal: StopSignalName) => string, onStop: (signal: StopSignalName) => void = () => {}): StopHandle {
  const request: StopRequest = { aborted: false };
  const handler = (signal: StopSignalName): void => {
    if (request.aborted) {
      dispose();
      // No listener left: the signal's default action ends the process now (Node resets the terminal first).
      process.kill(process.pid, signal);
      return;
    }
    request.aborted = true;
    request.signal = signal;
    log(`\n${message(signal)}`);
    onStop(signal);
  };
  const onInt = (): void => handler('SIGINT');
  const onTerm = (): void => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  function dispose(): void {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
  return { request, exitCode: () => (request.signal ? SIGNAL_EXIT_CODES[request.signal] : undefined), dispose };
}
