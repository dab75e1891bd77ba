import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { openStore, sha256, summarizeCampaign } from '../../src/campaign/index.js';
import { readOnnxFile, writeOnnx } from '../../src/graph/index.js';
import {
  countFontFiles,
  readOverheadArtifact,
  readThresholdsArtifact,
  svgToPixels,
  textWidth,
  SYSTEM_FONT_DIRS,
  writeReport,
  type BerPoint,
  type RateChartData,
  type ThresholdChartData,
} from '../../src/report/index.js';
import { ProactError } from '../../src/util/errors.js';
import { skipMissing } from '../helpers/requirements.js';
import { BERS, HAND_ACCURACIES, HAND_BER, HAND_CI_HALF_WIDTH, HAND_MEAN, LAYERS, TRIALS_PER_BER, writeFixtureStore } from './fixture.js';
import { bettingInterval } from '../../src/campaign/index.js';

const tempDir = () => mkdtempSync(join(tmpdir(), 'proact-report-'));

/** The JSON block `<script type="application/json" id="data-<name>">` of the page. */
function chartData<T>(html: string, name: string): T {
  const m = new RegExp(`<script type="application/json" id="data-${name}">([^<]*)</script>`).exec(html);
  assert.ok(m, `no data block for chart ${name}`);
  return JSON.parse(m[1]!) as T;
}

/** The inline SVG of `<figure data-chart="<name>">`. */
function figureSvg(html: string, name: string): string {
  const m = new RegExp(`<figure data-chart="${name}">\\s*(<svg[\\s\\S]*?</svg>)`).exec(html);
  assert.ok(m, `no figure for chart ${name}`);
  return m[1]!;
}

/** Paths inside each `<g class="mark-<kind> ...">` group of a vega SVG. */
function markPaths(svg: string, kind: string): number {
  let count = 0;
  for (const m of svg.matchAll(new RegExp(`<g class="mark-${kind} role-mark[^"]*"[^>]*>([\\s\\S]*?)</g>`, 'g'))) {
    count += (m[1]!.match(/<path\b/g) ?? []).length;
  }
  return count;
}

interface PngInfo {
  width: number;
  height: number;
  colorType: number;
  bitDepth: number;
  rawBytes: number;
}

/** Walks the PNG chunks (signature, IHDR first, IEND last) and inflates the image data. */
function readPng(bytes: Buffer): PngInfo {
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  let at = 8;
  const chunks: { type: string; data: Buffer }[] = [];
  while (at < bytes.length) {
    const length = bytes.readUInt32BE(at);
    chunks.push({ type: bytes.toString('latin1', at + 4, at + 8), data: bytes.subarray(at + 8, at + 8 + length) });
    at += 12 + length;
  }
  assert.equal(at, bytes.length, 'chunks end exactly at the end of the file');
  assert.equal(chunks[0]!.type, 'IHDR');
  assert.equal(chunks.at(-1)!.type, 'IEND');
  const ihdr = chunks[0]!.data;
  const idat = Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data));
  return { width: ihdr.readUInt32BE(0), height: ihdr.readUInt32BE(4), bitDepth: ihdr[8]!, colorType: ihdr[9]!, rawBytes: inflateSync(idat).length };
}

test('chart data embedded in the page equal the campaign summaries, and a hand-checked BER', async () => {
  const dir = tempDir();
  const fx = writeFixtureStore(dir);
  const r = await writeReport({ stores: [fx.db], outDir: join(dir, 'report'), generatedAt: new Date('2025-01-02T03:04:05Z') });
  const html = readFileSync(r.html, 'utf8');
  assert.deepEqual(r.figures.map((f) => f.name), ['accuracy', 'sdc', 'due', 'thresholds-proact']);

  const store = openStore(fx.db, { readonly: true });
  const summaries = [fx.ids.baseline, fx.ids.proact, fx.ids.ranger].map((id) => summarizeCampaign(store, id));
  store.close();
  for (const metric of ['accuracy', 'sdc', 'due'] as const) {
    const data = chartData<RateChartData>(html, metric);
    assert.equal(data.metric, metric);
    assert.equal(data.confidence, 0.95);
    const expected: BerPoint[] = summaries.flatMap((s) =>
      s.perBer.map((b) => {
        const m = b[metric];
        return {
          campaign: `results.sqlite#${s.campaign.id}`,
          label: r.data.campaigns.find((c) => c.record.id === s.campaign.id)!.label,
          ber: b.ber,
          n: m.n,
          mean: m.mean,
          ciLow: Number.isFinite(m.ciLow) ? m.ciLow : null,
          ciHigh: Number.isFinite(m.ciHigh) ? m.ciHigh : null,
          median: m.median,
          q1: m.q1,
          q3: m.q3,
        };
      }),
    );
    // Exact: the page carries the summaries' own doubles (JSON round-trips them).
    assert.deepEqual(data.points, expected, `${metric} points`);
  }

  const accuracy = chartData<RateChartData>(html, 'accuracy');
  // BERs x trials of every campaign with trials, plus the hand-checked BER; the empty campaign is not plotted.
  assert.equal(accuracy.points.length, 3 * BERS.length + 1);
  assert.ok(!accuracy.points.some((p) => p.campaign === `results.sqlite#${fx.ids.empty}`));
  const hand = accuracy.points.find((p) => p.ber === HAND_BER)!;
  assert.equal(hand.n, 3);
  assert.ok(Math.abs(hand.mean - HAND_MEAN) < 1e-12, `mean ${hand.mean}`);
  // The page's band is the campaign's interval: a betting interval tuned for its 12 planned trials.
  const betting = bettingInterval(HAND_ACCURACIES, { confidence: 0.95, horizon: TRIALS_PER_BER });
  assert.deepEqual([hand.ciLow, hand.ciHigh], [Math.min(betting.low, hand.mean), Math.max(betting.high, hand.mean)]);
  assert.ok(hand.ciLow! >= 0 && hand.ciHigh! <= 1);
  // The Student-t interval, computed by hand, is still there on request (mean +- t(0.975, 2) s / sqrt(3)).
  const again = openStore(fx.db, { readonly: true });
  const t = summarizeCampaign(again, fx.ids.baseline, { interval: 'student-t' }).perBer.find((b) => b.ber === HAND_BER)!.accuracy;
  again.close();
  assert.ok(Math.abs(t.ciHigh - t.mean - HAND_CI_HALF_WIDTH) < 1e-9 && Math.abs(t.mean - t.ciLow - HAND_CI_HALF_WIDTH) < 1e-9, `t interval [${t.ciLow}, ${t.ciHigh}]`);
  // Ranger's highest BER holds a single trial: its interval is the whole range (nothing learned yet), never wider.
  const single = accuracy.points.find((p) => p.campaign === `results.sqlite#${fx.ids.ranger}` && p.ber === BERS.at(-1))!;
  assert.equal(single.n, 1);
  assert.equal(single.ciLow, 0);
  assert.equal(single.ciHigh, 1);
  assert.ok(accuracy.points.filter((p) => p.campaign === `results.sqlite#${fx.ids.proact}`).every((p) => p.n === TRIALS_PER_BER));
  assert.deepEqual(
    accuracy.clean!.map((c) => c.cleanAccuracy),
    [0.8731, 0.8702, 0.8731],
  );
  // Labels: method names (one model family), the baseline by its model name since its file is not found here.
  assert.deepEqual([...new Set(accuracy.points.map((p) => p.label))], ['resnet20', 'proact', 'ranger']);

  const thresholds = chartData<ThresholdChartData>(html, 'thresholds-proact');
  assert.equal(thresholds.layers.length, LAYERS);
  const first = thresholds.layers[0]!;
  assert.equal(first.granularity, 'layer');
  assert.equal(first.count, 1);
  assert.ok(Math.abs(first.mean - 4 * 0.55) < 1e-12 && first.min === first.max && first.profiledMax === 4);
  const last = thresholds.layers[LAYERS - 1]!;
  assert.deepEqual([last.granularity, last.count, last.min, last.mean, last.max], ['neuron', 4096, 0.5, 3.25, 9.5]);

  // The other sections: overhead table, hardening log, campaign facts, the empty campaign and its note.
  assert.match(html, /<td class="num">188,416<\/td><td class="num">753,664<\/td><td class="num">69\.86<\/td><td class="num">45\.8<\/td>/);
  assert.match(html, /Decisions \(3, 2 accepted\)/);
  assert.match(html, /30\.6 min \(1835 s\)/);
  assert.match(html, /<th scope="row">Seed<\/th><td>1234<\/td><td>1234<\/td><td>1234<\/td><td>1234<\/td><\/tr>/);
  assert.match(html, new RegExp(`<code class="hash">${'b2'.repeat(32)}</code>`));
  assert.match(html, /Clean accuracy \(%\) <span class="differs"[^>]*>≠<\/span><\/th><td>87\.31<\/td><td>87\.02<\/td><td>87\.31<\/td><td>not recorded<\/td>/);
  assert.match(html, /<th scope="row">Tool version<\/th><td>0\.1\.0<\/td>/);
  assert.match(html, /<th scope="row"><code>method<\/code> <span class="differs"[^>]*>≠<\/span><\/th><td><span class="muted">–<\/span><\/td><td><code>proact<\/code><\/td>/);
  assert.match(html, /results\.sqlite#4: campaign has no stored trials/);
  assert.match(html, /Generated 2025-01-02 03:04:05 UTC/);
});

test('SVG figures hold the data marks; PNGs are valid, twice the SVG size', async () => {
  const dir = tempDir();
  const fx = writeFixtureStore(dir);
  const r = await writeReport({ stores: [fx.db], outDir: join(dir, 'report') });
  const html = readFileSync(r.html, 'utf8');
  for (const f of r.figures) {
    const svg = readFileSync(f.svg, 'utf8');
    assert.equal(figureSvg(html, f.name).length > 0, true);
    const size = /<svg[^>]*width="(\d+)" height="(\d+)"/.exec(svg)!;
    const png = readPng(readFileSync(f.png));
    assert.equal(png.width, Number(size[1]) * 2, `${f.name} PNG width`);
    assert.equal(png.height, Number(size[2]) * 2, `${f.name} PNG height`);
    assert.equal(f.pngWidth, png.width);
    // 8-bit RGBA: one filter byte plus 4 bytes per pixel on every row.
    assert.deepEqual([png.bitDepth, png.colorType, png.rawBytes], [8, 6, png.height * (1 + 4 * png.width)]);
    assert.ok(JSON.parse(readFileSync(f.spec, 'utf8')).$schema.includes('vega-lite'));
  }
  const accuracy = readFileSync(join(dir, 'report', 'accuracy.svg'), 'utf8');
  const points = chartData<RateChartData>(html, 'accuracy').points;
  assert.equal(markPaths(accuracy, 'symbol'), points.length, 'one symbol per plotted point');
  assert.equal(markPaths(accuracy, 'line'), 3, 'one line per campaign');
  // Bands: one per campaign, drawn from the points that have an interval.
  assert.equal(markPaths(accuracy, 'area'), 3);
  assert.match(accuracy, /Bit error rate/);
  assert.match(accuracy, />1e-7</);
  const thresholds = readFileSync(join(dir, 'report', 'thresholds-proact.svg'), 'utf8');
  assert.equal(markPaths(thresholds, 'rect'), LAYERS, 'one profiled-maximum bar per layer');
  assert.equal(markPaths(thresholds, 'symbol'), LAYERS, 'one threshold point per layer');
});

// Its own test so that a machine without fonts shows a skip (a failure in CI), not a pass.
test('PNG text is drawn with the system fonts', (t) => {
  if (countFontFiles(SYSTEM_FONT_DIRS) === 0) {
    skipMissing(t, 'fonts', `no font files in ${SYSTEM_FONT_DIRS.slice(0, 2).join(' or ')}: install the Debian package fonts-dejavu-core`);
    return;
  }
  const text = '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><text x="10" y="28" font-family="Liberation Sans, DejaVu Sans, sans-serif" font-size="20">Accuracy 1e-7</text></svg>';
  const image = svgToPixels(text, { scale: 1 });
  let dark = 0;
  for (let i = 0; i < image.pixels.length; i += 4) if (image.pixels[i]! < 128) dark++;
  assert.ok(dark > 150, `text drawn: ${dark} dark pixels`);
});

test('a malformed stored artifact is skipped with a note; overhead in the object form is read', async () => {
  const dir = tempDir();
  const fx = writeFixtureStore(dir);
  const store = openStore(fx.db);
  store.putArtifact(fx.ids.proact, 'thresholds', { layers: [{ layer: 0, node: 'x', granularity: 'pixel', values: [1] }] });
  store.putArtifact(fx.ids.baseline, 'overhead', {
    model: 'models/resnet20.onnx',
    schemes: { neuron: { parameters: 188416, bytes: 753664 }, layer: { parameters: 19, bytes: 76 }, hyrelu: { parameters: 4114, bytes: 16456 } },
    ratios: { neuronToHyrelu: 45.8 },
  });
  store.close();
  const r = await writeReport({ stores: [fx.db], outDir: join(dir, 'out') });
  assert.deepEqual(r.figures.map((f) => f.name), ['accuracy', 'sdc', 'due']);
  assert.ok(r.warnings.some((w) => /results\.sqlite#2 artifact thresholds\.layers\[0\]\.granularity is 'pixel'.*\(artifact not shown\)/.test(w)), r.warnings.join('\n'));
  const html = readFileSync(r.html, 'utf8');
  assert.match(html, /granularity is &#39;pixel&#39;/);
  assert.match(html, /<th scope="col" class="num">× hyrelu<\/th>/);
  assert.match(html, /<td>neuron<\/td><td class="num">188,416<\/td><td class="num">753,664<\/td><td class="num">45\.8<\/td><td><\/td><\/tr>\s*<\/tbody>/);
});

test('artifact readers name the field and the fix', () => {
  assert.throws(() => readThresholdsArtifact({ layers: [] }, 'x'), /x\.layers is empty/);
  assert.throws(() => readThresholdsArtifact({ layers: [{ layer: 0, node: 'n', granularity: 'layer' }] }, 'x'), /x\.layers\[0\]: has neither values nor summary/);
  assert.throws(
    () => readThresholdsArtifact({ layers: [{ layer: 0, node: 'n', granularity: 'layer', summary: { count: 2, min: 3, max: 4, mean: 5 } }] }, 'x'),
    /not ordered min <= mean <= max/,
  );
  assert.throws(() => readThresholdsArtifact({ layers: [{ layer: -1, node: 'n', granularity: 'layer', values: [1] }] }, 'x'), /x\.layers\[0\]\.layer is -1: expected an integer >= 0/);
  assert.throws(() => readOverheadArtifact({ schemes: [{ scheme: 'a', parameters: 1, bytes: 4 }], reference: 'b' }, 'o'), /o\.reference 'b' is not one of the schemes \(a\)/);
  assert.throws(() => readOverheadArtifact({ schemes: [{ scheme: 'a', parameters: 1.5, bytes: 4 }] }, 'o'), ProactError);
});

test('text widths follow Helvetica metrics, so charts laid out without a canvas have tight margins', () => {
  // A 667 + c 500 + c 500 + u 556 + r 333 + a 556 + c 500 + y 500 = 4112 thousandths of an em.
  assert.ok(Math.abs(textWidth('Accuracy', 10) - 41.12) < 1e-9);
  assert.ok(Math.abs(textWidth('1e-7', 11) - (2001 / 1000) * 11) < 1e-9);
  assert.ok(textWidth('Accuracy', 10, true) > textWidth('Accuracy', 10));
  // Vega's fallback guess is 0.8 em per character: 64 px for this word.
  assert.ok(textWidth('Accuracy', 10) < 0.7 * 64);
});

test('model files found beside the store: hash verified, method and activations from the ONNX metadata', async () => {
  const dir = tempDir();
  const lenet = readOnnxFile('models/mnist-lenet.onnx');
  const plain = join(dir, 'lenet.onnx');
  writeFileSync(plain, writeOnnx(lenet));
  const hardened = lenet.clone();
  hardened.metadata['proact.method'] = 'ranger';
  hardened.metadata['proact.activations'] = JSON.stringify([
    { node: 'relu1', kind: 'clip-sat', threshold: 'proact.threshold.0' },
    { node: 'relu2', kind: 'clip-sat', threshold: 'proact.threshold.1' },
    { node: 'relu3', kind: 'smooth-zero', threshold: 'proact.threshold.2', guard: true, k: 20 },
  ]);
  const clipped = join(dir, 'lenet.ranger.onnx');
  writeFileSync(clipped, writeOnnx(hardened));
  const db = join(dir, 'models.sqlite');
  const store = openStore(db);
  const spec = { toolVersion: '0.1.0', data: 'mnist/test:0+300', seed: 0, options: { bers: [1e-5] } };
  const trial = { ber: 1e-5, trial: 0, accuracy: 0.9, sdc: 0.1, due: 0, faults: 3, seconds: 0.1 };
  // Stored paths relative to the store's folder, as a campaign run from there records them.
  for (const [path, hash] of [['lenet.onnx', sha256(readFileSync(plain))], ['lenet.ranger.onnx', sha256(readFileSync(clipped))], ['lenet.ranger.onnx', 'ff'.repeat(32)]] as const) {
    store.insertTrial(store.findOrCreateCampaign({ ...spec, modelPath: path, modelHash: hash }).id, trial);
  }
  store.close();
  const r = await writeReport({ stores: [db], outDir: join(dir, 'out') });
  const [plainInfo, clippedInfo, changedInfo] = r.data.campaigns.map((c) => [c.model.status, c.method, c.label]);
  // Labels name the model too: the third campaign's model name ('lenet.ranger', method unknown) differs.
  assert.deepEqual(plainInfo, ['found', 'unprotected', 'unprotected · lenet']);
  assert.deepEqual(clippedInfo, ['found', 'ranger', 'ranger · lenet']);
  // A file whose hash differs from the campaign's is not trusted: no method from it.
  assert.deepEqual(changedInfo, ['changed', null, 'lenet.ranger']);
  const html = readFileSync(r.html, 'utf8');
  assert.match(html, /<td>–<\/td><td>clip-sat × 2, smooth-zero \(guarded\) k=20 × 1<\/td><td>–<\/td>/);
  assert.match(html, /proact\.arch=lenet5/);
  assert.match(html, /found here, but its hash differs: the file changed since the campaign/);
});
