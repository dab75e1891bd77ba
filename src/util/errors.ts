/**
 * User-facing errors. A ProactError carries a one-line message that names the problem and the fix;
 * the CLI prints it without a stack trace (unless --verbose) and exits with `exitCode` (2 by default).
 * Anything that is not a ProactError is a bug in proact and is printed with its stack.
 */
export class ProactError extends Error {
  readonly exitCode: number;
  constructor(message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProactError';
    this.exitCode = options.exitCode ?? 2;
  }
}

/** Throws a ProactError when `condition` is false. */
export function check(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new ProactError(typeof message === 'string' ? message : message());
}

export function isProactError(e: unknown): e is ProactError {
  return e instanceof ProactError;
}
