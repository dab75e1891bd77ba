/**
 * Opens the report from disk in headless Chromium (driven by playwright-core, never a downloaded browser)
 * and checks what a reader sees: every figure drawn with data marks, no console errors, no request other
 * than the page itself. Saves a screenshot to test-artifacts/report.png.
 *
 * Chromium: $PROACT_CHROMIUM or /usr/bin/chromium; without it the test skips (Debian package `chromium`),
 * or fails when PROACT_REQUIRE includes chromium (as in CI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { writeReport } from '../../src/report/index.js';
import { writeFixtureStore } from './fixture.js';
import { skipMissing } from '../helpers/requirements.js';

const CHROMIUM = process.env.PROACT_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Vega's data marks (role-mark), not the symbols of legends or the lines of axes. */
const DATA_MARKS = ['symbol', 'line', 'area', 'rect'].map((kind) => `g.mark-${kind}.role-mark path`).join(', ');

interface FigureMarks {
  name: string;
  /** Paths of symbol, line, area and rect marks (the data, not axes or legends). */
  dataPaths: number;
  /** Of those, paths the browser laid out with a non-empty box. */
  visible: number;
  svgWidth: number;
}

test('the report opens from disk in headless Chromium: charts drawn, no errors, no network', async (t) => {
  if (!existsSync(CHROMIUM)) {
    skipMissing(t, 'chromium', `no Chromium at ${CHROMIUM}: install the Debian package chromium (apt-get install chromium) or set PROACT_CHROMIUM`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'proact-report-browser-'));
  const fx = writeFixtureStore(dir);
  const report = await writeReport({ stores: [fx.db], outDir: join(dir, 'report') });
  const pageUrl = pathToFileURL(report.html).href;

  const profile = mkdtempSync(join(tmpdir(), 'proact-chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
    offline: true,
  });
  try {
    const requests: string[] = [];
    const consoleErrors: string[] = [];
    context.on('request', (r) => {
      if (r.url() !== pageUrl) requests.push(r.url());
    });
    // Anything but the page itself is refused (and recorded above), so a stray fetch cannot slip through.
    await context.route('**/*', (route) => (route.request().url() === pageUrl ? route.continue() : route.abort()));
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    const response = await page.goto(pageUrl, { waitUntil: 'load' });
    assert.ok(response === null || response.ok(), 'page loaded');

    const figures: FigureMarks[] = await page.$$eval('figure[data-chart]', (nodes, DATA_MARKS) =>
      nodes.map((figure) => {
        const paths = [...figure.querySelectorAll(DATA_MARKS)];
        return {
          name: figure.getAttribute('data-chart') ?? '',
          dataPaths: paths.length,
          visible: paths.filter((p) => {
            const box = p.getBoundingClientRect();
            return box.width > 0 || box.height > 0;
          }).length,
          svgWidth: figure.querySelector('svg')?.getBoundingClientRect().width ?? 0,
        };
      }),
      DATA_MARKS,
    );
    assert.deepEqual(figures.map((f) => f.name), report.figures.map((f) => f.name));
    for (const f of figures) {
      assert.ok(f.dataPaths > 0, `${f.name}: no data marks`);
      assert.ok(f.visible > 0, `${f.name}: data marks not laid out`);
      assert.ok(f.svgWidth > 300, `${f.name}: figure ${f.svgWidth} px wide`);
    }
    // Each figure's embedded data parse, and the accuracy chart has one symbol per point.
    const counts = {
      points: (JSON.parse(await page.$eval('#data-accuracy', (e) => e.textContent ?? '')) as { points: unknown[] }).points.length,
      symbols: await page.$$eval('figure[data-chart="accuracy"] g.mark-symbol.role-mark path', (e) => e.length),
    };
    assert.equal(counts.symbols, counts.points);
    assert.ok(counts.points > 0);

    assert.deepEqual(consoleErrors, [], 'console errors');
    assert.deepEqual(requests, [], 'network requests');

    const artifacts = resolve('test-artifacts');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'report.png'), fullPage: true });
    t.diagnostic(`screenshot: ${join(artifacts, 'report.png')}`);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
