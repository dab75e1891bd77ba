/**
 * `writeReport`: results stores in, a report folder out — index.html (self-contained) and, per figure,
 * <name>.svg, <name>.png and <name>.vl.json (the Vega-Lite spec, to restyle a figure for a paper).
 */
import { mkdirSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../util/files.js';
import { join, resolve } from 'node:path';
import { TOOL_VERSION } from '../campaign/index.js';
import { ProactError } from '../util/errors.js';
import { buildCharts } from './charts.js';
import { renderPage, type RenderedFigure } from './html.js';
import { loadReportData, type ReportData } from './load.js';
import { SYSTEM_FONT_DIRS, countFontFiles, renderSvg, svgToPng } from './render.js';

export interface ReportOptions {
  /** Results stores (.sqlite files written by campaigns). */
  stores: string[];
  /** Output folder (created when missing). */
  outDir: string;
  /** Extra `thresholds` JSON files to chart. */
  thresholdFiles?: string[];
  /** Page title (default 'proact fault-injection report'). */
  title?: string;
  /** Confidence level of every interval (default 0.95). */
  confidence?: number;
  /** PNG pixels per SVG pixel (default 2). */
  pngScale?: number;
  /** Extra font folders for the PNGs. */
  fontDirs?: string[];
  /** Time stamp shown on the page (default now). */
  generatedAt?: Date;
}

export interface ReportFigureFile {
  name: string;
  title: string;
  svg: string;
  png: string;
  spec: string;
  pngWidth: number;
  pngHeight: number;
}

export interface ReportResult {
  /** Absolute path of index.html. */
  html: string;
  figures: ReportFigureFile[];
  campaigns: number;
  /** Notes for the user (also shown on the page): skipped artifacts, empty campaigns, missing fonts. */
  warnings: string[];
  data: ReportData;
}

export const DEFAULT_REPORT_TITLE = 'proact fault-injection report';

export async function writeReport(options: ReportOptions): Promise<ReportResult> {
  const outDir = resolve(options.outDir);
  const loadOptions: { thresholdFiles?: string[]; confidence?: number } = {};
  if (options.thresholdFiles) loadOptions.thresholdFiles = options.thresholdFiles;
  if (options.confidence !== undefined) loadOptions.confidence = options.confidence;
  const data = loadReportData(options.stores, loadOptions);
  // Only after the inputs proved readable: a failed report leaves no empty folder behind.
  prepareOutDir(outDir);
  const warnings = [...data.warnings];
  const scale = options.pngScale ?? 2;
  // Below 0.1 a figure rasterises to no pixel at all (resvg fails); above 8 the PNGs take hundreds of MB.
  if (!(scale >= 0.1 && scale <= 8)) throw new ProactError(`report: PNG scale ${scale} must lie in [0.1, 8], e.g. 2`);
  const fontDirs = options.fontDirs ?? [];
  if (countFontFiles([...SYSTEM_FONT_DIRS, ...fontDirs]) === 0) {
    warnings.push(
      `no font files found in ${SYSTEM_FONT_DIRS.slice(0, 2).join(' or ')}: the PNG figures have no text (the SVG and HTML are fine); install fonts, e.g. the Debian package fonts-dejavu-core`,
    );
  }

  const figures: RenderedFigure[] = [];
  for (const chart of buildCharts(data)) {
    const rendered = await renderSvg(chart.spec);
    for (const w of rendered.warnings) warnings.push(`figure ${chart.name}: ${w}`);
    const png = svgToPng(rendered.svg, { scale, fontDirs });
    const files = { svg: `${chart.name}.svg`, png: `${chart.name}.png`, spec: `${chart.name}.vl.json` };
    write(join(outDir, files.svg), rendered.svg);
    write(join(outDir, files.png), png.png);
    write(join(outDir, files.spec), JSON.stringify(chart.spec, null, 2) + '\n');
    figures.push({ chart, svg: rendered.svg, files, png: { width: png.width, height: png.height } });
  }

  const html = renderPage(data, figures, {
    title: options.title ?? DEFAULT_REPORT_TITLE,
    generatedAt: options.generatedAt ?? new Date(),
    toolVersion: TOOL_VERSION,
    warnings,
  });
  const htmlPath = join(outDir, 'index.html');
  write(htmlPath, html);
  return {
    html: htmlPath,
    figures: figures.map((f) => ({
      name: f.chart.name,
      title: f.chart.title,
      svg: join(outDir, f.files.svg),
      png: join(outDir, f.files.png),
      spec: join(outDir, f.files.spec),
      pngWidth: f.png.width,
      pngHeight: f.png.height,
    })),
    campaigns: data.campaigns.length,
    warnings,
    data,
  };
}

function prepareOutDir(dir: string): void {
  try {
    if (!statSync(dir).isDirectory()) throw new ProactError(`${dir}: exists and is not a folder; give --out a folder for the report`);
  } catch (e) {
    if (e instanceof ProactError) throw e;
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new ProactError(`${dir}: cannot create the report folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); choose a writable --out folder`);
  }
}

function write(path: string, content: string | Buffer): void {
  writeFileAtomic(path, [content], 'a report file');
}
