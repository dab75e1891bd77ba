/**
 * `npm run demo` in its quick mode (`proact demo --quick`, what `npm run demo -- --quick` runs): every
 * step succeeds, and the summary table it prints holds the figures of the results database it wrote,
 * with the unprotected model's clean accuracy equal to `proact eval` on the same images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, summarizeCampaign } from '../../src/campaign/index.js';
import { runCli } from '../helpers/cli.js';

const TRIALS = 2;
const IMAGES = 200;
const BERS = ['1e-5', '3e-5', '1e-4', '3e-4', '1e-3'];

test('demo --quick: the summary table equals the stored campaigns; clean accuracy equals proact eval', () => {
  const out = mkdtempSync(join(tmpdir(), 'proact-demo-'));
  const r = runCli(['demo', '--quick', '--trials', String(TRIALS), '--eval-limit', String(IMAGES), '--workers', '1', '--out', out], { timeoutMs: 240_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(out, 'index.html')), 'the HTML report');

  const lines = r.stdout.split('\n');
  const title = lines.findIndex((l) => l.startsWith('Mean accuracy % (95% CI)'));
  assert.ok(title >= 0, r.stdout);
  assert.match(lines[title]!, new RegExp(`${TRIALS} trials x ${IMAGES} MNIST test images:$`));
  const cells = (l: string) => l.trim().split(/\s{2,}/);
  assert.deepEqual(cells(lines[title + 1]!), ['BER', 'unprotected', 'ranger', 'proact']);
  const rows = lines.slice(title + 3, title + 3 + BERS.length + 2).map(cells);
  assert.deepEqual(rows.map((c) => c[0]), ['clean', ...BERS, 'AUC (norm.)']);

  // The same figures, from the database and formatted independently.
  const store = openStore(join(out, 'results.sqlite'), { readonly: true });
  try {
    const campaigns = store.listCampaigns();
    assert.equal(campaigns.length, 3);
    campaigns.forEach((c, k) => {
      const s = summarizeCampaign(store, c.id);
      assert.equal(rows[0]![k + 1], ((c.cleanAccuracy ?? NaN) * 100).toFixed(2), `clean, column ${k + 1}`);
      BERS.forEach((ber, i) => {
        const b = s.perBer.find((p) => p.ber === Number(ber))!;
        assert.equal(b.accuracy.n, TRIALS);
        const pct = (v: number) => (v * 100).toFixed(1);
        assert.equal(rows[i + 1]![k + 1], `${pct(b.accuracy.mean)} [${pct(b.accuracy.ciLow)}, ${pct(b.accuracy.ciHigh)}]`, `${ber}, column ${k + 1}`);
      });
      assert.equal(rows.at(-1)![k + 1], (s.accuracyAuc!.normalized * 100).toFixed(1));
    });
  } finally {
    store.close();
  }

  const ev = runCli(['eval', '--model', 'models/mnist-lenet.onnx', '--data', 'mnist', '--limit', String(IMAGES), '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const clean = (JSON.parse(ev.stdout.trim().split('\n').pop()!) as { accuracy: number }).accuracy;
  assert.equal(rows[0]![1], (clean * 100).toFixed(2));
  // 1e-3 flips about 2,000 of the LeNet's bits per trial: the unprotected model must lose accuracy.
  const unprotectedAt1e3 = Number(rows[BERS.length]![1]!.split(' ')[0]);
  assert.ok(unprotectedAt1e3 < clean * 100 - 20, `unprotected at 1e-3: ${unprotectedAt1e3}% vs clean ${clean * 100}%`);
});
