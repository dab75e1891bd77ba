// One way to stop (src/cli/stop.ts): SIGINT and SIGTERM stop a campaign after its running trials, mark
// it interrupted and exit 130 / 143 with one line; a second signal ends the process at once by that
// signal, never with an abort ("terminate called ... Napi::Error", exit 134). With 1 and 2 workers.
// The signals are sent once the campaign printed its start line: no timing is assumed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { CLI, spawnCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-signals-'));
const MODEL = join(process.cwd(), 'models/mnist-lenet.onnx');

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Starts a long campaign, sends `signals` once it has started, and waits for it to end. */
function interruptCampaign(name: string, workers: number, signals: NodeJS.Signals[]): Promise<Ended> {
  const db = join(dir, `${name}.sqlite`);
  const child = spawnCli(['campaign', '--model', MODEL, '--data', 'mnist', '--ber', '1e-3', '--trials', '100000', '--eval-limit', '500', '--workers', String(workers), '--db', db]);
  let stderr = '';
  let sent = false;
  return new Promise((resolve) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!sent && /trials planned/.test(stderr)) {
        sent = true;
        for (const s of signals) child.kill(s);
      }
    });
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

function status(name: string): string {
  const db = new Database(join(dir, `${name}.sqlite`), { readonly: true });
  try {
    return db.prepare('SELECT status FROM campaigns').pluck().get() as string;
  } finally {
    db.close();
  }
}

for (const workers of [1, 2]) {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    test(`signals: ${signal} with ${workers} worker(s) marks the campaign interrupted and exits ${code} with one line`, async () => {
      const name = `${signal}-${workers}`;
      const r = await interruptCampaign(name, workers, [signal]);
      assert.equal(r.code, code, r.stderr);
      assert.doesNotMatch(r.stderr, /terminate called|Napi::Error|internal error/);
      assert.equal(r.stderr.split('\n').filter((l) => l.includes(`${signal}: stopping`)).length, 1, r.stderr);
      assert.equal(status(name), 'interrupted');
    });
  }
  test(`signals: a double SIGINT with ${workers} worker(s) ends at once by SIGINT, without an abort`, async () => {
    const r = await interruptCampaign(`double-${workers}`, workers, ['SIGINT', 'SIGINT']);
    assert.ok(r.signal === 'SIGINT' || r.code === 130, `ended with code ${r.code}, signal ${r.signal}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /terminate called|Napi::Error|internal error|Aborted/);
  });
}

test('a storage failure (file-size limit) with 2 workers is the one-line error of 1 worker, exit 2, never an abort', () => {
  const db = join(dir, 'fsize.sqlite');
  // ulimit -f 60: the store may not grow past 60 KiB (SQLite gets EFBIG) after about a hundred trials.
  const r = spawnSync('bash', ['-c', `ulimit -f 60; exec "${process.execPath}" "${CLI}" "$@"`, 'proact',
    'campaign', '--model', MODEL, '--data', 'mnist', '--eval-limit', '5', '--ber', '1e-3', '--trials', '3000', '--workers', '2', '--db', db], { encoding: 'utf8', env: { ...process.env, PROACT_NO_PROGRESS: '1' } });
  assert.equal(r.status, 2, r.stderr);
  assert.doesNotMatch(r.stderr, /terminate called|Napi::Error|internal error/);
  assert.match(r.stderr.trim().split('\n').at(-1)!, /^proact: .*fsize\.sqlite: saving trials failed: .*rerun to resume/);
  const store = new Database(db, { readonly: true });
  try {
    assert.equal(store.pragma('integrity_check', { simple: true }), 'ok');
    assert.ok((store.prepare('SELECT count(*) FROM trials').pluck().get() as number) > 0);
  } finally {
    store.close();
  }
});
