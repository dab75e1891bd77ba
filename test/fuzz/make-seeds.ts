/**
 * Writes the seed corpus (test/fuzz/corpus/seed/) from the fixtures: run `npx tsc -p tsconfig.json &&
 * node dist/test/fuzz/make-seeds.js` after changing fixtures.ts. The output is deterministic except the
 * SQLite files (creation times inside them).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore, PROACT_APPLICATION_ID } from '../../src/campaign/store.js';
import { CORPUS_DIR } from './corpus.js';
import { seedDatasets, seedModels, seedPlans, seedThresholds } from './fixtures.js';

function writeCorpus(corpus: string, files: Record<string, Uint8Array>): void {
  const dir = join(CORPUS_DIR, 'seed', corpus);
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  console.log(`${corpus}: ${Object.keys(files).join(', ')}`);
}

/** SQLite files: a proact store with a campaign, trials and an artifact; foreign and half-proact databases. */
function seedDatabases(): Record<string, Uint8Array> {
  const tmp = mkdtempSync(join(tmpdir(), 'proact-seeds-'));
  const file = (name: string, build: (path: string) => void): Uint8Array => {
    const path = join(tmp, name);
    build(path);
    return new Uint8Array(readFileSync(path));
  };
  const raw = (setup: string) => (path: string) => {
    const db = new Database(path);
    db.exec(setup);
    db.close();
  };
  try {
    return {
      'store.sqlite': file('store.sqlite', (path) => {
        const s = openStore(path);
        const { id } = s.findOrCreateCampaign({ toolVersion: '0.1.0', modelPath: 'tiny.onnx', modelHash: 'ab'.repeat(32), data: 'mnist/test:0+100:0123', seed: 3, options: { bers: [1e-3, 1e-2], trials: 3 }, cleanAccuracy: 0.91 });
        s.insertTrials(
          id,
          [1e-3, 1e-2].flatMap((ber, b) => [0, 1, 2].map((trial) => ({ ber, trial, accuracy: 0.9 - 0.2 * b - 0.01 * trial, sdc: 0.01 * trial, due: b === 1 && trial === 2 ? 0.05 : 0, faults: 2 + trial + 10 * b, seconds: 0.02, shard: trial === 1 ? '1/2' : null, extra: trial === 0 ? { note: 'x' } : null }))),
        );
        s.putArtifact(id, 'thresholds', { layers: [1.5, 2.5] });
        s.setStatus(id, 'complete');
        s.db.pragma('wal_checkpoint(TRUNCATE)');
        s.db.pragma('journal_mode = DELETE');
        s.close();
      }),
      'foreign.sqlite': file('foreign.sqlite', raw("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hello'), ('world');")),
      'newer-schema.sqlite': file('newer-schema.sqlite', raw(`PRAGMA application_id = ${PROACT_APPLICATION_ID}; PRAGMA user_version = 99; CREATE TABLE future (x);`)),
      'no-schema-version.sqlite': file('no-schema-version.sqlite', raw(`PRAGMA application_id = ${PROACT_APPLICATION_ID}; CREATE TABLE campaigns (x);`)),
      'empty.sqlite': new Uint8Array(0),
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const enc = new TextEncoder();
const argv = (list: string[][]): Record<string, Uint8Array> =>
  Object.fromEntries(list.map((a, i) => [`argv-${String(i).padStart(2, '0')}.json`, enc.encode(JSON.stringify(a) + '\n')]));

writeCorpus('onnx', seedModels());
for (const [corpus, files] of Object.entries(seedDatasets())) writeCorpus(corpus, files);
writeCorpus('fault-plan-json', seedPlans());
writeCorpus('thresholds-json', seedThresholds());
writeCorpus('sqlite-store', seedDatabases());
writeCorpus(
  'cli-argv',
  argv([
    [],
    ['--help'],
    ['--version'],
    ['eval'],
    ['eval', '--model', 'missing.onnx', '--data', 'mnist'],
    ['campaign', '--model', 'missing.onnx', '--data', 'mnist', '--ber', 'x'],
    ['campaign', '--trials', '0'],
    ['campaign', '--shard', '0/0', '--model', 'm.onnx', '--data', 'mnist'],
    ['campaign', 'merge', '--out'],
    ['campaign', 'export'],
    ['faults', 'show', '--ber', 'NaN'],
    ['nosuchcommand', '--x'],
    ['train', '--epochs', '-1'],
    ['harden', '--method', 'nosuch'],
  ]),
);
