/** Reports: a self-contained HTML page and paper-ready SVG/PNG figures from campaign results stores. */
export * from './artifacts.js';
export * from './load.js';
export * from './charts.js';
export * from './render.js';
export { textWidth } from './textwidth.js';
export { renderPage, escapeHtml, jsonForScript, scopeSvgIds, type PageInfo, type RenderedFigure } from './html.js';
export * from './report.js';
