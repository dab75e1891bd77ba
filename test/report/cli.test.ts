import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/campaign/index.js';
import { writeReport, type RateChartData, type ThresholdChartData } from '../../src/report/index.js';
import { ProactError } from '../../src/util/errors.js';
import { expectUserError, runCli } from '../helpers/cli.js';
import { writeFixtureStore } from './fixture.js';

const tempDir = () => mkdtempSync(join(tmpdir(), 'proact-report-cli-'));

/** The JSON block `<script type="application/json" id="data-<name>">` of the page. */
function chartData<T>(html: string, name: string): T {
  const m = new RegExp(`<script type="application/json" id="data-${name}">([^<]*)</script>`).exec(html);
  assert.ok(m, `no data block for chart ${name}`);
  return JSON.parse(m[1]!) as T;
}

test('two stores and a harden thresholds file: every campaign, labels unique, maxima from the profile beside the file', () => {
  const dir = tempDir();
  const a = writeFixtureStore(dir, 'a.sqlite');
  const b = writeFixtureStore(dir, 'b.sqlite');
  const file = join(dir, 'resnet20.ranger.thresholds.json');
  const harden = {
    format: 'proact-thresholds',
    version: 1,
    method: 'ranger',
    layers: [0, 1, 2].map((layer) => ({ layer, node: `/relu_${layer}`, kind: 'clip-sat', granularity: 'channel', thresholdName: `proact.threshold.${layer}`, dims: [4, 1, 1], values: [1, 2, 3, 4 + layer] })),
  };
  writeFileSync(file, JSON.stringify(harden));
  // The profile proact harden leaves beside it gives the maxima of the layers it knows.
  const profile = { format: 'proact-profile', version: 1, images: 500, layers: [{ node: '/relu_0', layerMax: 5 }, { node: '/relu_1', layerMax: 6 }] };
  writeFileSync(join(dir, 'resnet20.ranger.profile.json'), JSON.stringify(profile));
  // And its decision log, here in FT-ClipAct's style (settings of any JSON type).
  const decisions = {
    method: 'ftclipact',
    seed: 0,
    imagesProcessed: 5120,
    seconds: 42.5,
    validationAccuracy: 0.9,
    decisions: [{ layer: 0, node: '/relu_0', setting: { round: 1, threshold: 2.5, clean: true, 'accuracy@1e-7': 0.88 }, accuracy: 0.87, accepted: true }],
  };
  writeFileSync(join(dir, 'resnet20.ranger.decisions.json'), JSON.stringify(decisions));
  const out = join(dir, 'out');
  const r = runCli(['report', a.db, b.db, '--out', out, '--thresholds', file, '--title', 'Two <stores>']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), join(out, 'index.html'));
  assert.match(r.stderr, /report of 8 campaigns, 5 figures/);
  const html = readFileSync(join(out, 'index.html'), 'utf8');
  assert.match(html, /<title>Two &lt;stores&gt;<\/title>/);
  const points = chartData<RateChartData>(html, 'accuracy').points;
  const labels = [...new Set(points.map((p) => p.label))];
  assert.equal(labels.length, 6, `labels ${labels.join(' | ')}`);
  assert.ok(labels.includes('proact [a.sqlite#2]') && labels.includes('proact [b.sqlite#2]'), labels.join(' | '));
  // Identical thresholds artifacts of the two stores make one chart; the file makes another.
  const fromFile = chartData<ThresholdChartData>(html, 'thresholds-resnet20-ranger-ranger');
  assert.deepEqual(fromFile.layers.map((l) => [l.layer, l.count, l.min, l.mean, l.max, l.profiledMax]), [
    [0, 4, 1, 2.5, 4, 5],
    [1, 4, 1, 2.75, 5, 6],
    [2, 4, 1, 3, 6, null],
  ]);
  assert.deepEqual(fromFile.origins, [file, join(dir, 'resnet20.ranger.profile.json')]);
  assert.deepEqual(chartData<ThresholdChartData>(html, 'thresholds-proact-a-sqlite-2').origins, ['a.sqlite#2', 'b.sqlite#2']);
  assert.ok(existsSync(join(out, 'thresholds-resnet20-ranger-ranger.png')));
  assert.match(html, /<h3>resnet20\.ranger \(ranger\) <span class="muted">\([^)]*resnet20\.ranger\.decisions\.json\)<\/span><\/h3>/);
  assert.match(html, /round=1, threshold=2\.5, clean=true, accuracy@1e-7=0\.88/);
});

test('bad input: ProactErrors that name the file and the fix, and no report folder left behind', async () => {
  const dir = tempDir();
  const fx = writeFixtureStore(dir);
  const fails = async (stores: string[], out: string, pattern: RegExp, extra: { thresholdFiles?: string[]; confidence?: number } = {}) => {
    await assert.rejects(writeReport({ stores, outDir: join(dir, out), ...extra }), (e: unknown) => e instanceof ProactError && pattern.test(e.message) && !e.message.includes('\n'));
    if (out !== 'notes.txt') assert.ok(!existsSync(join(dir, out)), `${out} not created`);
  };
  const text = join(dir, 'notes.txt');
  writeFileSync(text, 'not a database at all, just some text that is long enough to be read as a header '.repeat(4));
  await fails([text], 'o2', /notes\.txt: .*not a SQLite database/);
  await fails([fx.db], 'notes.txt', /notes\.txt: exists and is not a folder/);
  const badJson = join(dir, 'bad.thresholds.json');
  writeFileSync(badJson, '{"layers": [');
  await fails([fx.db], 'o3', /bad\.thresholds\.json: not valid JSON/, { thresholdFiles: [badJson] });
  await fails([fx.db], 'o3', /missing\.json: cannot read the thresholds file \(ENOENT\)/, { thresholdFiles: [join(dir, 'missing.json')] });
  await fails([fx.db, fx.db], 'o4', /is given twice/);
  await fails([fx.db], 'o5', /confidence 95 must lie in \(0, 1\)/, { confidence: 95 });
  await fails([], 'o5', /no results store given/);
  const empty = join(dir, 'empty.sqlite');
  openStore(empty).close();
  await fails([empty], 'o6', /hold no campaign; run proact campaign/);

  // Through the CLI: one line on stderr, exit code 2.
  expectUserError(runCli(['report', join(dir, 'missing.sqlite'), '--out', join(dir, 'o1')]), /missing\.sqlite: no such results store/);
  writeFileSync(badJson, JSON.stringify({ layers: [{ layer: 0, node: 'n', granularity: 'layer', values: ['big'] }] }));
  expectUserError(runCli(['report', fx.db, '--out', join(dir, 'o3'), '--thresholds', badJson]), /bad\.thresholds\.json\.layers\[0\]\.values\[0\] is "big": expected a finite number/);
  assert.ok(!existsSync(join(dir, 'o1')) && !existsSync(join(dir, 'o3')));
});
