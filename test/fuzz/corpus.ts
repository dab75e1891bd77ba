/**
 * The fuzz corpora in the repository: `test/fuzz/corpus/seed/<corpus>/` holds the valid files mutations
 * start from (regenerate them with `node dist/test/fuzz/make-seeds.js`), and
 * `test/fuzz/corpus/regression/<corpus>/` every input that once crashed a reader or hung, kept after
 * the fix and replayed by every run.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** test/fuzz/corpus in the source tree (this file runs from dist/test/fuzz). */
export const CORPUS_DIR = fileURLToPath(new URL('../../../test/fuzz/corpus/', import.meta.url));

export type CorpusKind = 'seed' | 'regression';

export interface CorpusFile {
  name: string;
  bytes: Uint8Array;
}

/** The files of one corpus folder, sorted by name (none when the folder does not exist). */
export function readCorpus(kind: CorpusKind, corpus: string): CorpusFile[] {
  const dir = join(CORPUS_DIR, kind, corpus);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.') && !name.endsWith('.md'))
    .sort()
    .map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }));
}

/** Writes an input under a name derived from its content; returns the path. */
export function saveInput(dir: string, target: string, bytes: Uint8Array): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${target}-${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}.bin`);
  writeFileSync(path, bytes);
  return path;
}
