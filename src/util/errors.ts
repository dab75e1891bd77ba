/**
 * User-facing errors. A ProactError carries a one-line message that names the problem and the fix;
 * the CLI prints it without a stack trace (unless --verbose) and exits with `exitCode` (2 by default).
 * Anything that is not a ProactError is a bug in proact and is printed with its stack.
 */
export class ProactError extends Error {
  readonly exitCode: number;
  constructor(message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(printable(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProactError';
    this.exitCode = options.exitCode ?? 2;
  }
}

/**
 * Text for the terminal (error messages, tables, paths and node names printed on stdout or stderr).
 * Messages quote names and text from the user's files (node names, .npy headers, JSON snippets), which
 * may hold line breaks or terminal escape sequences: control characters are shown escaped, so a message
 * stays one line and a crafted file cannot drive the terminal.
 */
export function printable(message: string): string {
  return message.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? ' ' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Throws a ProactError when `condition` is false. */
export function check(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new ProactError(typeof message === 'string' ? message : message());
}

/**
 * A broken invariant of proact's own code (a builder used wrongly, an impossible state): no input a user
 * can give reaches it, so it keeps its stack trace and asks for a report. User-caused errors are
 * ProactErrors.
 */
export class ProactBug extends Error {
  constructor(message: string) {
    super(`${message} (a bug in proact: please report it)`);
    this.name = 'ProactBug';
  }
}

export function isProactError(e: unknown): e is ProactError {
  return e instanceof ProactError;
}
