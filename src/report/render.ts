/**
 * Turns a Vega-Lite spec into SVG (vega-lite compiles it, vega renders it headless, no canvas) and SVG
 * into PNG (resvg, a prebuilt native rasteriser shipped in its npm package).
 *
 * resvg draws no text without fonts: it loads the system fonts, plus any folder given. When no font file
 * is found at all, the PNGs are still written (marks and lines, no labels) and a warning says so.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { vegaTextWidth } from './textwidth.js';

// vega-scenegraph's text measure: exported by vega, missing from its type declarations.
declare module 'vega' {
  export const textMetrics: { width: (item: object, text: unknown) => number };
}
// Without a canvas vega guesses text widths generously; metric-exact widths give tight layouts.
vega.textMetrics.width = vegaTextWidth;

export interface RenderedSvg {
  svg: string;
  width: number;
  height: number;
  /** Warnings of the compiler and the renderer (none for the report's own specs). */
  warnings: string[];
}

/** Compiles and renders a Vega-Lite spec to an SVG document. Inline data only: the loader refuses URLs and files. */
export async function renderSvg(spec: TopLevelSpec): Promise<RenderedSvg> {
  const warnings: string[] = [];
  const logger = collectingLogger(warnings);
  const compiled = compile(spec, { logger }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logger, loader: offlineLoader() });
  try {
    const svg = await view.toSVG();
    const size = /<svg[^>]*\bwidth="([\d.]+)"[^>]*\bheight="([\d.]+)"/.exec(svg);
    return { svg, width: Number(size?.[1] ?? 0), height: Number(size?.[2] ?? 0), warnings };
  } finally {
    view.finalize();
  }
}

export interface PngOptions {
  /** Output pixels per SVG pixel (default 2: sharp in print and on high-density screens). */
  scale?: number;
  /** Extra folders with .ttf/.otf/.ttc fonts. */
  fontDirs?: string[];
}

export interface RenderedPng {
  png: Buffer;
  width: number;
  height: number;
}

/** Rasterises an SVG to PNG on a white background, at `scale` times its size. */
export function svgToPng(svg: string, options: PngOptions = {}): RenderedPng {
  const image = rasterize(svg, options);
  return { png: image.asPng(), width: image.width, height: image.height };
}

/** The raw RGBA pixels of an SVG rasterised as `svgToPng` does (to check what a PNG shows). */
export function svgToPixels(svg: string, options: PngOptions = {}): { pixels: Buffer; width: number; height: number } {
  const image = rasterize(svg, options);
  return { pixels: image.pixels, width: image.width, height: image.height };
}

function rasterize(svg: string, options: PngOptions) {
  const scale = options.scale ?? 2;
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, fontDirs: options.fontDirs ?? [], sansSerifFamily: 'DejaVu Sans' },
    logLevel: 'off',
  });
  return resvg.render();
}

/** Where fontconfig-less programs (like resvg) look for system fonts on Linux, macOS and Windows. */
export const SYSTEM_FONT_DIRS = [
  '/usr/share/fonts',
  '/usr/local/share/fonts',
  join(homedir(), '.fonts'),
  join(homedir(), '.local/share/fonts'),
  '/Library/Fonts',
  '/System/Library/Fonts',
  'C:\\Windows\\Fonts',
];

/** Counts font files (.ttf, .otf, .ttc) under the folders, stopping at `limit`. */
export function countFontFiles(dirs: readonly string[], limit = 1): number {
  let found = 0;
  const visit = (dir: string, depth: number): void => {
    if (found >= limit || depth > 6) return;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (found >= limit) return;
      const path = join(dir, name);
      if (/\.(ttf|otf|ttc)$/i.test(name)) found++;
      else if (isDirectory(path)) visit(path, depth + 1);
    }
  };
  for (const dir of dirs) if (existsSync(dir)) visit(dir, 0);
  return found;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function collectingLogger(into: string[]): vega.LoggerInterface {
  let level = vega.Warn;
  const logger: vega.LoggerInterface = {
    level(value?: number) {
      if (value === undefined) return level;
      level = value;
      return logger;
    },
    error(...args: readonly unknown[]) {
      into.push(`error: ${args.map(String).join(' ')}`);
      return logger;
    },
    warn(...args: readonly unknown[]) {
      into.push(args.map(String).join(' '));
      return logger;
    },
    info() {
      return logger;
    },
    debug() {
      return logger;
    },
  } as vega.LoggerInterface;
  return logger;
}

/** A vega loader that never reads a file or the network: every chart carries its data inline. */
function offlineLoader(): vega.Loader {
  const loader = vega.loader();
  const refuse = (uri: string): Promise<never> => Promise.reject(new Error(`report charts use inline data only; refused to load ${uri}`));
  loader.load = refuse;
  loader.sanitize = refuse;
  loader.http = refuse;
  loader.file = refuse;
  return loader;
}
