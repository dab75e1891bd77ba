/**
 * The report's figures as Vega-Lite specs, each with the exact points it plots (embedded in the HTML so
 * a reader or a test can get the numbers back) and the table of numbers behind it.
 *
 * - accuracy / sdc / due: mean per BER of each campaign, confidence band, log x-axis (BER > 0 only);
 *   the accuracy chart adds each campaign's clean accuracy as a dashed line.
 * - thresholds-<name>: per activation layer, the chosen thresholds (mean, min-max) against the profiled
 *   maximum, one chart per hardened model (deduplicated when campaigns share the same thresholds).
 */
import type { TopLevelSpec } from 'vega-lite';
import { canonicalJson, type JsonObject, type Summary } from '../campaign/index.js';
import { thresholdSummary } from './artifacts.js';
import type { ReportCampaign, ReportData, ThresholdsSource } from './load.js';

/** One layer of a layered Vega-Lite spec (vega-lite exports the top-level type only). */
type LayerOfSpec = Extract<TopLevelSpec, { layer: readonly unknown[] }>['layer'][number];

export type RateMetric = 'accuracy' | 'sdc' | 'due';
export const RATE_METRICS: readonly RateMetric[] = ['accuracy', 'sdc', 'due'];

/** One plotted point: a campaign's summary of one metric at one BER. CI bounds are null when unknown (one trial). */
export interface BerPoint {
  /** Campaign ref ('<store>#<id>'). */
  campaign: string;
  label: string;
  ber: number;
  n: number;
  mean: number;
  ciLow: number | null;
  ciHigh: number | null;
  median: number;
  q1: number;
  q3: number;
}

export interface RateChartData {
  metric: RateMetric;
  confidence: number;
  points: BerPoint[];
  /** Accuracy chart only: each campaign's clean accuracy (the dashed reference lines). */
  clean?: { campaign: string; label: string; cleanAccuracy: number }[];
}

/** One activation layer as the thresholds chart plots it. */
export interface ThresholdPoint {
  layer: number;
  node: string;
  granularity: string;
  kind: string | null;
  count: number;
  min: number;
  mean: number;
  max: number;
  /** null when the source recorded no profiled maxima (a plain thresholds file). */
  profiledMax: number | null;
}

export interface ThresholdChartData {
  label: string;
  /** Campaign refs or file paths the thresholds came from. */
  origins: string[];
  layers: ThresholdPoint[];
}

/** A table of the numbers behind a chart: header cells and rows of already formatted cells. */
export interface DataTable {
  header: string[];
  rows: string[][];
  /** Indices of the columns holding numbers (right-aligned). */
  numeric: number[];
  /** Leading columns that name a group of rows (shown once per group, e.g. the campaign). */
  groupColumns?: number;
}

export interface Chart {
  /** File stem and HTML id: 'accuracy', 'sdc', 'due', 'thresholds-<slug>'. */
  name: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
  data: RateChartData | ThresholdChartData;
  table: DataTable;
}

/** Okabe-Ito: distinguishable with colour-vision deficiencies and in greyscale print. */
export const CATEGORY_COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];
/** Fonts that render the same in the browser and in the PNG rasteriser (resvg loads system fonts). */
export const FONT_STACK = 'Liberation Sans, DejaVu Sans, Helvetica, Arial, sans-serif';
const SHAPES = ['circle', 'square', 'triangle-up', 'diamond', 'cross', 'triangle-down', 'triangle-right', 'triangle-left'];

const CONFIG = {
  font: FONT_STACK,
  background: 'white',
  padding: 12,
  view: { stroke: '#d0d0d0' },
  title: { fontSize: 15, fontWeight: 'bold', anchor: 'start', subtitleFontSize: 12, subtitleColor: '#555555', offset: 12 },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', titleColor: '#222222', labelColor: '#333333', gridColor: '#ebebeb', domainColor: '#888888', tickColor: '#888888' },
  // Layers share one legend; full opacity keeps the translucent CI band from fading its symbols.
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', labelLimit: 280, symbolStrokeWidth: 2, symbolOpacity: 1 },
  range: { category: CATEGORY_COLORS },
} as const;

const METRIC_TEXT: Record<RateMetric, { title: string; axis: string; what: string; format: string; domain?: [number, number] }> = {
  accuracy: {
    title: 'Accuracy under weight bit flips',
    axis: 'Top-1 accuracy (%)',
    what: 'top-1 accuracy of the faulty model on the evaluation set',
    format: '.0%',
    domain: [0, 1],
  },
  sdc: {
    title: 'Silent data corruption (SDC) rate',
    axis: 'SDC rate (% of inputs)',
    what: 'inputs that the clean model classifies correctly and the faulty model, with finite logits, gets wrong, as a fraction of all evaluated inputs',
    format: '.2~%',
  },
  due: {
    title: 'Detected unrecoverable error (DUE) rate',
    axis: 'DUE rate (% of inputs)',
    what: 'inputs whose logits contain Inf or NaN (a detectable error), as a fraction of all evaluated inputs',
    format: '.2~%',
  },
};

const BER_AXIS_TITLE = 'Bit error rate (probability of a flip per stored bit, log scale)';

/** The plotted points of one metric: every campaign's BERs above 0 (a log axis has no 0). */
export function berPoints(campaigns: readonly ReportCampaign[], metric: RateMetric): BerPoint[] {
  return campaigns.flatMap((c) =>
    c.summary.perBer.filter((b) => b.ber > 0).map((b) => pointOf(c, b.ber, b[metric])),
  );
}

function pointOf(c: ReportCampaign, ber: number, s: Summary): BerPoint {
  const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);
  return { campaign: c.ref, label: c.label, ber, n: s.n, mean: s.mean, ciLow: finiteOrNull(s.ciLow), ciHigh: finiteOrNull(s.ciHigh), median: s.median, q1: s.q1, q3: s.q3 };
}

/** Accuracy, SDC or DUE against BER for every campaign with trials. */
export function rateChart(data: ReportData, metric: RateMetric): Chart {
  const text = METRIC_TEXT[metric];
  const plotted = data.campaigns.filter((c) => c.summary.perBer.some((b) => b.ber > 0));
  const points = berPoints(plotted, metric);
  const labels = plotted.map((c) => c.label);
  const bers = [...new Set(points.map((p) => p.ber))].sort((a, b) => a - b);
  const level = Math.round(data.confidence * 100);
  const chartData: RateChartData = { metric, confidence: data.confidence, points };

  const palette = { domain: labels, range: CATEGORY_COLORS.slice(0, Math.max(1, Math.min(labels.length, CATEGORY_COLORS.length))) };
  const color = { field: 'label', type: 'nominal', title: 'Campaign', scale: palette, legend: { orient: 'right' } } as const;
  const x = {
    field: 'ber',
    type: 'quantitative',
    title: BER_AXIS_TITLE,
    // No 'nice' rounding to whole decades (it leaves empty space); padding keeps edge points whole.
    scale: { type: 'log', nice: false, padding: 14 },
    // Ticks at the measured BERs when there are few of them; '~e' writes 1e-7, 3e-7, 2.5e-6.
    axis: bers.length <= 12 ? { values: bers, format: '~e' } : { format: '~e' },
  } as const;
  const y = { type: 'quantitative', title: text.axis, axis: { format: text.format }, scale: text.domain ? { domain: text.domain } : { zero: true } } as const;
  const layers: LayerOfSpec[] = [
    {
      transform: [
        { filter: 'isValid(datum.ciLow) && isValid(datum.ciHigh)' },
        // The band is drawn inside the possible range of a rate; the embedded data keep the raw bounds.
        { calculate: 'max(0, datum.ciLow)', as: 'bandLow' },
        { calculate: 'min(1, datum.ciHigh)', as: 'bandHigh' },
      ],
      mark: { type: 'area', opacity: 0.16, interpolate: 'linear' },
      encoding: { x, y: { ...y, field: 'bandLow' }, y2: { field: 'bandHigh' }, color },
    },
    { mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { ...y, field: 'mean' }, color } },
    {
      mark: { type: 'point', filled: true, size: 60, opacity: 1 },
      encoding: {
        x,
        y: { ...y, field: 'mean' },
        color,
        shape: { field: 'label', type: 'nominal', title: 'Campaign', scale: { domain: labels, range: SHAPES.slice(0, Math.max(1, Math.min(labels.length, SHAPES.length))) } },
      },
    },
  ];
  if (metric === 'accuracy') {
    const clean = plotted
      .filter((c) => c.record.cleanAccuracy !== null)
      .map((c) => ({ campaign: c.ref, label: c.label, cleanAccuracy: c.record.cleanAccuracy! }));
    chartData.clean = clean;
    if (clean.length > 0) {
      layers.unshift({
        data: { values: clean },
        mark: { type: 'rule', strokeDash: [5, 4], strokeWidth: 1.2, opacity: 0.8 },
        encoding: { y: { ...y, field: 'cleanAccuracy' }, color },
      });
    }
  }
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: text.title, subtitle: `Mean over trials with ${level}% confidence band${metric === 'accuracy' ? '; dashed: clean accuracy' : ''}` },
    width: 620,
    height: 340,
    config: CONFIG,
    data: { values: points },
    layer: layers,
    resolve: { legend: { color: 'shared', shape: 'shared' } },
  } satisfies TopLevelSpec;
  return {
    name: metric,
    title: text.title,
    caption: `${capitalize(text.what)}, against the bit error rate. Lines join the mean over trials at each BER; the shaded band is the ${level}% confidence interval of the mean (Student t, the trial is the unit). Points with a single trial have no band.`,
    spec,
    data: chartData,
    table: rateTable(data, metric),
  };
}

function rateTable(data: ReportData, metric: RateMetric): DataTable {
  const level = Math.round(data.confidence * 100);
  const rows = data.campaigns.flatMap((c) =>
    c.summary.perBer.map((b) => {
      const s = b[metric];
      return [
        c.label,
        c.ref,
        b.ber > 0 ? formatBer(b.ber) : '0 (not plotted)',
        String(s.n),
        percent(s.mean),
        Number.isFinite(s.ciHalfWidth) ? `${percent(s.ciLow)} – ${percent(s.ciHigh)}` : '–',
        s.interval,
        percent(s.median),
        `${percent(s.q1)} – ${percent(s.q3)}`,
      ];
    }),
  );
  return {
    header: ['Campaign', 'Ref', 'BER', 'Trials', `Mean ${metric === 'accuracy' ? 'accuracy' : metric.toUpperCase()} (%)`, `${level}% CI (%)`, 'Interval', 'Median (%)', 'IQR (%)'],
    rows,
    numeric: [3, 4, 5, 6, 7],
    groupColumns: 2,
  };
}

/** Per-layer thresholds of one hardened model against its profiled maxima. */
export function thresholdChart(source: ThresholdsSource, name: string): Chart {
  const layers: ThresholdPoint[] = [...source.artifact.layers]
    .sort((a, b) => a.layer - b.layer)
    .map((l) => {
      const s = thresholdSummary(l);
      return { layer: l.layer, node: l.node, granularity: l.granularity, kind: l.kind ?? null, count: s.count, min: s.min, mean: s.mean, max: s.max, profiledMax: l.profiledMax ?? null };
    });
  const data: ThresholdChartData = { label: source.label, origins: source.origins, layers };
  const x = { field: 'layer', type: 'ordinal', title: 'Activation layer (execution order)', axis: { labelAngle: 0 } } as const;
  const profiled = layers.some((l) => l.profiledMax !== null);
  const ranges = layers.some((l) => l.count > 1);
  const y = { type: 'quantitative', title: profiled ? 'Activation value (threshold, profiled maximum)' : 'Threshold value', scale: { zero: true } } as const;
  const names = { max: 'Profiled maximum', mean: ranges ? 'Threshold (mean)' : 'Threshold', range: 'Threshold range (min – max)' };
  const entries: [string, string][] = [
    ...(profiled ? [[names.max, '#c9c9c9'] as [string, string]] : []),
    [names.mean, '#0072B2'],
    ...(ranges ? [[names.range, '#56B4E9'] as [string, string]] : []),
  ];
  const series = {
    type: 'nominal',
    title: null,
    scale: { domain: entries.map((e) => e[0]), range: entries.map((e) => e[1]) },
    legend: { orient: 'top', direction: 'horizontal' },
  } as const;
  const granularities = [...new Set(layers.map((l) => l.granularity))];
  const marks: LayerOfSpec[] = [
    {
      mark: { type: 'point', filled: true, size: 60, opacity: 1 },
      encoding: {
        x,
        y: { ...y, field: 'mean' },
        color: { ...series, datum: names.mean },
        shape: {
          field: 'granularity',
          type: 'nominal',
          title: 'Granularity',
          scale: { domain: granularities, range: SHAPES.slice(0, granularities.length) },
          // One granularity is said in the subtitle; a legend only when they differ.
          legend: granularities.length > 1 ? { orient: 'right' } : null,
        },
      },
    },
  ];
  if (ranges) {
    marks.unshift({
      transform: [{ filter: 'datum.count > 1' }],
      mark: { type: 'rule', strokeWidth: 2 },
      encoding: { x, y: { ...y, field: 'min' }, y2: { field: 'max' }, color: { ...series, datum: names.range } },
    });
  }
  if (profiled) {
    marks.unshift({
      transform: [{ filter: 'isValid(datum.profiledMax)' }],
      mark: { type: 'bar', width: { band: 0.7 } },
      encoding: { x, y: { ...y, field: 'profiledMax' }, color: { ...series, datum: names.max } },
    });
  }
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `Thresholds per layer: ${source.label}`,
      subtitle: `${source.artifact.method ? `${source.artifact.method}, ` : ''}${granularities.join(' / ')}-wise thresholds${profiled ? ' against the profiled layer maxima' : ''}${source.artifact.profileImages ? ` (${source.artifact.profileImages} profiling images)` : ''}`,
    },
    width: Math.max(420, Math.min(900, layers.length * 30)),
    height: 300,
    config: CONFIG,
    data: { values: layers },
    layer: marks,
  } satisfies TopLevelSpec;
  return {
    name,
    title: `Thresholds per layer: ${source.label}`,
    caption:
      (profiled ? 'Grey bars: maximum of the clean activations of each layer over the profiling set. ' : 'The source recorded no profiled maxima. ') +
      (ranges
        ? 'Points: the mean threshold of the layer (the threshold itself for layer-wise clipping); vertical lines: the range of channel- or neuron-wise thresholds.'
        : 'Points: the threshold of each layer.'),
    spec,
    data,
    table: {
      header: ['Layer', 'Node', 'Granularity', 'Form', 'Thresholds', 'Min', 'Mean', 'Max', 'Profiled max', 'Mean / max'],
      rows: layers.map((l) => [
        String(l.layer),
        l.node,
        l.granularity,
        l.kind ?? '–',
        String(l.count),
        number(l.min),
        number(l.mean),
        number(l.max),
        l.profiledMax === null ? '–' : number(l.profiledMax),
        l.profiledMax !== null && l.profiledMax > 0 ? number(l.mean / l.profiledMax) : '–',
      ]),
      numeric: [0, 4, 5, 6, 7, 8, 9],
    },
  };
}

/** Threshold sources to chart: campaign artifacts (identical ones merged) and the explicit files. */
export function thresholdSources(data: ReportData): ThresholdsSource[] {
  const byContent = new Map<string, ThresholdsSource>();
  for (const c of data.campaigns) {
    if (!c.thresholds) continue;
    const key = canonicalJson(c.thresholds);
    const found = byContent.get(key);
    if (found) found.origins.push(c.ref);
    else byContent.set(key, { label: c.label, origins: [c.ref], artifact: c.thresholds });
  }
  return [...byContent.values(), ...data.thresholdFiles];
}

/** Every chart of the report, in page order. */
export function buildCharts(data: ReportData): Chart[] {
  const charts: Chart[] = [];
  if (data.campaigns.some((c) => c.summary.perBer.some((b) => b.ber > 0))) {
    for (const metric of RATE_METRICS) charts.push(rateChart(data, metric));
  }
  const used = new Set(charts.map((c) => c.name));
  for (const source of thresholdSources(data)) {
    const base = `thresholds-${slug(source.label)}`;
    let name = base;
    for (let i = 2; used.has(name); i++) name = `${base}-${i}`;
    used.add(name);
    charts.push(thresholdChart(source, name));
  }
  return charts;
}

/** A file-name-safe version of a label: lower case letters, digits and dashes. */
export function slug(text: string): string {
  const s = text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48);
  return s.length > 0 ? s : 'model';
}

/** 1e-7, 3e-7, 2.5e-6: the shortest exponent form. */
export function formatBer(ber: number): string {
  return ber.toExponential().replace('e+', 'e');
}

/** A fraction as a percentage with two decimals. */
export function percent(fraction: number): string {
  return (fraction * 100).toFixed(2);
}

/** Up to four significant digits, no exponent for ordinary magnitudes. */
export function number(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(3).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
