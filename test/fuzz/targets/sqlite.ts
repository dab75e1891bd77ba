/**
 * Results-store target: files given as `--db` or to `campaign export`/`merge` that are not campaign
 * databases, or are damaged ones. Each input is opened read-only (everything listed, summarised and
 * exported), read-write (a campaign and trials written), and merged into a fresh store. A database of
 * another program must be refused and left byte for byte as it was.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportTrialsCsv, openStore, type ResultStore } from '../../../src/campaign/store.js';
import { summarizeCampaign } from '../../../src/campaign/summary.js';
import { mergeStores } from '../../../src/campaign/shard.js';
import { ProactError } from '../../../src/util/errors.js';
import { mutatedBytes } from '../mutate.js';
import { chains, type FuzzContext, type FuzzTarget } from '../target.js';

function removeDb(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(path + suffix, { force: true });
}

function withStore(path: string, readonly: boolean, use: (s: ResultStore) => void): void {
  const s = openStore(path, { readonly, busyTimeoutMs: 50 });
  try {
    use(s);
  } finally {
    s.close();
  }
}

function readEverything(s: ResultStore): void {
  for (const c of s.listCampaigns()) {
    summarizeCampaign(s, c.id);
    exportTrialsCsv(s, c.id);
    s.bers(c.id);
    s.completedTrialKeys(c.id);
    for (const name of s.listArtifacts(c.id)) s.getArtifact(c.id, name);
  }
}

function writeSomething(s: ResultStore): void {
  const { id } = s.findOrCreateCampaign({ toolVersion: 'fuzz', modelPath: 'm.onnx', modelHash: 'h', data: 'd', seed: 1, options: { trials: 2 }, cleanAccuracy: 0.5 });
  s.insertTrials(id, [
    { ber: 1e-3, trial: 0, accuracy: 0.4, sdc: 0.1, due: 0, faults: 3, seconds: 0.01 },
    { ber: 1e-3, trial: 1, accuracy: 0.5, sdc: 0, due: 0, faults: 1, seconds: 0.01 },
  ]);
  s.putArtifact(id, 'note', { ok: true });
  readEverything(s);
}

export const sqliteTarget: FuzzTarget = {
  name: 'sqlite-store',
  what: 'SQLite files (damaged stores, other programs\' databases, random bytes) -> openStore read-only/read-write, summaries, CSV, merge',
  inputs: (ctx) => mutatedBytes(ctx.seeds),
  run(input, ctx: FuzzContext) {
    const path = join(ctx.tmp, 'case.sqlite');
    const merged = join(ctx.tmp, 'merged.sqlite');
    return chains(
      () => {
        removeDb(path);
        writeFileSync(path, input);
        withStore(path, true, readEverything);
      },
      () => {
        removeDb(path);
        writeFileSync(path, input);
        try {
          withStore(path, false, writeSomething);
        } catch (e) {
          if (e instanceof ProactError && /another program/.test(e.message) && existsSync(path) && !Buffer.from(input).equals(readFileSync(path)))
            throw new Error('a database of another program was modified by openStore');
          throw e;
        }
      },
      () => {
        removeDb(path);
        removeDb(merged);
        writeFileSync(path, input);
        mergeStores([path], merged);
      },
    );
  },
};
