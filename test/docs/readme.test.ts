/**
 * The README's tour commands and library example are executed here, so they cannot rot: every
 * `npx proact ...` line of the tour (in order) and the TypeScript example (run as an ES module that
 * imports 'proact' through the package's own exports). The tour's results are checked too: eval's
 * accuracy against the library, the ProAct decisions against the tolerance rule, overhead's HyReLU
 * count against the thresholds harden stored, the campaign's table against its database and its
 * clean accuracy against the hardened model evaluated alone, and the report's page.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { openStore, summarizeCampaign } from '../../src/campaign/index.js';
import { openDataset } from '../../src/data/index.js';
import { prepareGraph, readOnnxFile } from '../../src/graph/index.js';
import { PROACT_DEFAULTS, thresholdsFromJSON } from '../../src/harden/index.js';
import { Session, evaluate } from '../../src/runtime/index.js';
import { CLI } from '../helpers/cli.js';
import { assertDecisionsFollowRule } from '../helpers/decisions.js';

const readme = readFileSync('README.md', 'utf8');

function blocks(lang: string): string[] {
  const re = new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g');
  return [...readme.matchAll(re)].map((m) => m[1]!);
}

/** Accuracy of `model` on the first `limit` MNIST test images, through the library. */
async function accuracyOf(model: string, limit: number): Promise<{ correct: number; count: number }> {
  const session = await Session.create(prepareGraph(readOnnxFile(model)), { threads: 2 });
  try {
    return await evaluate(session, openDataset('mnist', { split: 'test' }), { limit });
  } finally {
    await session.release();
  }
}

/** The value of `--name` in a command line. */
function flag(args: string[], name: string): string {
  const i = args.indexOf(name);
  assert.ok(i >= 0 && args[i + 1], `the tour's command has ${name}`);
  return args[i + 1]!;
}

test('README: every `npx proact` command of the tour runs, succeeds and gives the right figures', async () => {
  const commands = blocks('sh')
    .map((b) => b.replace(/\\\n\s*/g, ' '))
    .flatMap((b) => b.split('\n'))
    .map((l) => l.trim())
    .filter((l) => l.startsWith('npx proact '));
  assert.ok(commands.length >= 5, `found ${commands.length} commands`);
  // The tour writes to /tmp paths: they run in a fresh folder of their own instead, so two runs on one
  // machine cannot break each other (and a ProAct checkpoint of an older run cannot be picked up).
  const scratch = mkdtempSync(join(tmpdir(), 'proact-tour-'));
  const ran = new Map<string, { args: string[]; stdout: string; stderr: string }>();
  for (const line of commands) {
    const args = line.slice('npx proact '.length).split(/\s+/).map((a) => a.replace(/^\/tmp\//, `${scratch}/`));
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, PROACT_NO_PROGRESS: '1' }, timeout: 300_000 });
    assert.equal(r.status, 0, `${line}\n${r.stderr}`);
    ran.set(args[0]!, { args, stdout: r.stdout, stderr: r.stderr });
  }
  assert.deepEqual([...ran.keys()], ['eval', 'harden', 'overhead', 'campaign', 'report']);

  // 2. eval: the accuracy the library computes on the same images.
  const ev = ran.get('eval')!;
  const limit = Number(flag(ev.args, '--limit'));
  const want = await accuracyOf(flag(ev.args, '--model'), limit);
  assert.match(ev.stdout, new RegExp(`^accuracy   ${((want.correct / want.count) * 100).toFixed(2)}% \\(${want.correct}/${limit}\\)$`, 'm'));

  // 3. harden: ProAct's decisions follow its rule (default tolerance and weight decays) on LeNet's 4 layers;
  // overhead's HyReLU count of the plain model is what harden stored.
  const hd = ran.get('harden')!;
  const hardened = flag(hd.args, '--out');
  assertDecisionsFollowRule(hardened, hd.stderr, { tolerance: PROACT_DEFAULTS.tolerance, weightDecays: PROACT_DEFAULTS.weightDecays, layers: 4 });
  const stored = thresholdsFromJSON(readFileSync(hardened.replace(/\.onnx$/, '.thresholds.json'), 'utf8'));
  const values = stored.thresholds.reduce((n, t) => n + t.values.length, 0);
  assert.match(ran.get('overhead')!.stdout, new RegExp(`^HyReLU +${values.toLocaleString('en-US')} +${(values * 4).toLocaleString('en-US')} +1\\.00$`, 'm'));

  // 4. campaign: its table is its database's summary; its clean accuracy is the hardened model's alone.
  const cp = ran.get('campaign')!;
  const store = openStore(flag(cp.args, '--db'), { readonly: true });
  try {
    const [campaign, ...others] = store.listCampaigns();
    assert.equal(others.length, 0);
    assert.equal(campaign!.modelPath, flag(cp.args, '--model'));
    const s = summarizeCampaign(store, campaign!.id);
    const images = Number(flag(cp.args, '--eval-limit'));
    const clean = await accuracyOf(hardened, images);
    assert.equal(campaign!.cleanAccuracy, clean.correct / clean.count);
    assert.match(cp.stdout, new RegExp(`^clean accuracy ${((clean.correct / clean.count) * 100).toFixed(2)}%$`, 'm'));
    assert.deepEqual(s.perBer.map((b) => b.ber.toExponential(0)), flag(cp.args, '--ber').split(','));
    for (const b of s.perBer) {
      assert.equal(b.accuracy.n, Number(flag(cp.args, '--trials')));
      const pct = (v: number) => (v * 100).toFixed(2);
      const row = `${b.ber.toExponential(0)} +${b.accuracy.n} +${pct(b.accuracy.mean)} +${pct(b.accuracy.ciLow)}-${pct(b.accuracy.ciHigh)} `;
      assert.match(cp.stdout, new RegExp(`^${row}`, 'm'), `row ${row}`);
    }
  } finally {
    store.close();
  }

  // 5. report: the page it names exists and shows the campaign's model.
  const rp = ran.get('report')!;
  const page = rp.stdout.trim();
  assert.equal(page, `${flag(rp.args, '--out')}/index.html`);
  assert.ok(existsSync(page));
  assert.match(readFileSync(page, 'utf8'), /lenet-proact\.onnx/);
});

test('README: the library example runs against the package exports', () => {
  const ts = blocks('ts');
  assert.equal(ts.length, 1);
  const file = 'readme-example.test-tmp.mjs';
  writeFileSync(file, ts[0]!);
  try {
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /accuracy 9\d\.\d\d%/);
  } finally {
    rmSync(file, { force: true });
  }
});
