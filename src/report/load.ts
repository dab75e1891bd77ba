/**
 * Gathers what a report shows from one or more results stores: every campaign with its per-BER summary,
 * a readable label (method and model), the facts about its model file (found, unchanged since the
 * campaign, activation forms recorded in its ONNX metadata) and its optional artifacts.
 *
 * Stored artifacts that do not have the documented shape become warnings (the rest of the report is still
 * useful); threshold files given explicitly on the command line are user input and fail with a ProactError.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import {
  canonicalJson,
  openStore,
  sha256,
  summarizeCampaign,
  type CampaignRecord,
  type CampaignSummary,
  type JsonValue,
} from '../campaign/index.js';
import { readOnnx } from '../graph/index.js';
import { ProactError, printable } from '../util/errors.js';
import {
  HARDENING_ARTIFACT,
  OVERHEAD_ARTIFACT,
  THRESHOLDS_ARTIFACT,
  readHardeningArtifact,
  readOverheadArtifact,
  readThresholdsArtifact,
  type HardeningArtifact,
  type OverheadArtifact,
  type ThresholdsArtifact,
} from './artifacts.js';

/** One entry of the `proact.activations` ONNX metadata a hardened model carries. */
export interface ActivationEntry {
  node: string;
  kind: string;
  threshold: string | null;
  guard?: boolean;
  k?: number;
}

/** What the report could learn from the model file a campaign names. */
export interface ModelInfo {
  /** found: readable and its sha256 equals the campaign's model hash; changed: the hash differs. */
  status: 'found' | 'changed' | 'missing' | 'unreadable';
  /** Where the file was found (absolute), or null. */
  path: string | null;
  /** ONNX metadata `proact.method`, when the file is found and unchanged. */
  method: string | null;
  /** ONNX metadata `proact.activations`, when the file is found and unchanged; null when absent. */
  activations: ActivationEntry[] | null;
  /** The other `proact.*` ONNX metadata (method, seed, training settings, ...), when found and unchanged. */
  metadata: Record<string, string>;
}

export interface ReportCampaign {
  /** Unique reference across all inputs: '<store file name>#<campaign id>'. */
  ref: string;
  /** Short label for legends, unique across the report. */
  label: string;
  /** Hardening method, when any source names one; 'unprotected' for a model without clipped activations. */
  method: string | null;
  /** Absolute path of the store it came from. */
  store: string;
  record: CampaignRecord;
  summary: CampaignSummary;
  model: ModelInfo;
  thresholds?: ThresholdsArtifact;
  overhead?: OverheadArtifact;
  hardening?: HardeningArtifact;
  /** Names of every artifact stored with the campaign. */
  artifactNames: string[];
}

/** Thresholds to chart: from a campaign's artifact or a file given with --thresholds. */
export interface ThresholdsSource {
  label: string;
  /** Campaign refs or absolute file paths the thresholds (and maxima) came from. */
  origins: string[];
  artifact: ThresholdsArtifact;
  /** File sources: the `<stem>.decisions.json` beside the thresholds file, when there is one. */
  hardening?: HardeningArtifact;
  /** File sources: where `hardening` was read. */
  hardeningPath?: string;
}

export interface ReportData {
  /** Absolute paths of the stores read. */
  stores: string[];
  campaigns: ReportCampaign[];
  /** Threshold files given explicitly (campaign artifacts are on the campaigns). */
  thresholdFiles: ThresholdsSource[];
  /** Confidence level of every interval in the report. */
  confidence: number;
  warnings: string[];
}

export interface LoadOptions {
  /** Extra `thresholds` JSON files (the artifact shape, see artifacts.ts). */
  thresholdFiles?: string[];
  /** Confidence level of the intervals (default 0.95). */
  confidence?: number;
}

/** Reads every campaign of every store (opened read-only) and the extra threshold files. */
export function loadReportData(storePaths: readonly string[], options: LoadOptions = {}): ReportData {
  if (storePaths.length === 0) throw new ProactError('report: no results store given; pass the .sqlite file(s) a campaign wrote, e.g. proact report results.sqlite');
  const confidence = options.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) throw new ProactError(`report: confidence ${confidence} must lie in (0, 1), e.g. 0.95`);
  const stores = storePaths.map((p) => resolve(p));
  const duplicate = stores.find((p, i) => stores.indexOf(p) !== i);
  if (duplicate !== undefined) throw new ProactError(`report: ${duplicate} is given twice; list each results store once`);
  const names = storeNames(stores);
  const warnings: string[] = [];
  const campaigns: ReportCampaign[] = [];
  stores.forEach((path, i) => {
    const store = openStore(path, { readonly: true });
    try {
      const records = store.listCampaigns();
      if (records.length === 0) warnings.push(`${path}: holds no campaign yet`);
      for (const record of records) {
        const ref = `${names[i]}#${record.id}`;
        const artifactNames = store.listArtifacts(record.id);
        const artifact = <T>(name: string, read: (v: JsonValue, where: string) => T): T | undefined => {
          const value = store.getArtifact(record.id, name);
          if (value === undefined) return undefined;
          try {
            return read(value, `${ref} artifact ${name}`);
          } catch (e) {
            if (!(e instanceof ProactError)) throw e;
            warnings.push(`${e.message} (artifact not shown)`);
            return undefined;
          }
        };
        const campaign: ReportCampaign = {
          ref,
          label: ref,
          method: null,
          store: path,
          record,
          summary: summarizeCampaign(store, record.id, { confidence }),
          model: readModelInfo(record, path),
          artifactNames,
        };
        const thresholds = artifact(THRESHOLDS_ARTIFACT, readThresholdsArtifact);
        const overhead = artifact(OVERHEAD_ARTIFACT, readOverheadArtifact);
        const hardening = artifact(HARDENING_ARTIFACT, readHardeningArtifact);
        if (thresholds) campaign.thresholds = thresholds;
        if (overhead) campaign.overhead = overhead;
        if (hardening) campaign.hardening = hardening;
        campaign.method = methodOf(campaign);
        if (campaign.summary.perBer.length === 0) warnings.push(`${ref}: campaign has no stored trials; it is listed but not plotted`);
        campaigns.push(campaign);
      }
    } finally {
      store.close();
    }
  });
  if (campaigns.length === 0) {
    throw new ProactError(`report: ${stores.join(', ')} hold no campaign; run proact campaign --db <file> first`);
  }
  assignLabels(campaigns);
  const thresholdFiles = (options.thresholdFiles ?? []).map((f) => readThresholdsFile(f, warnings));
  return { stores, campaigns, thresholdFiles, confidence, warnings };
}

/**
 * Reads a `--thresholds` file: a JSON file with the `thresholds` artifact shape, e.g. the
 * `<stem>.thresholds.json` that `proact harden` writes. When that file has no profiled maxima and a
 * `<stem>.profile.json` (format 'proact-profile') lies beside it, the layer maxima are taken from there;
 * a `<stem>.decisions.json` beside it (the `hardening` artifact shape) is shown as its hardening run.
 * Problems with those side files become `warnings`; problems with the thresholds file itself are errors.
 */
export function readThresholdsFile(path: string, warnings: string[] = []): ThresholdsSource {
  const artifact = readThresholdsArtifact(readJsonFile(path, 'thresholds file'), path);
  const origins = [resolve(path)];
  const profile = siblingProfile(path);
  if (profile && artifact.layers.some((l) => l.profiledMax === undefined)) {
    let used = false;
    for (const l of artifact.layers) {
      const max = profile.layerMax.get(l.node);
      if (l.profiledMax === undefined && max !== undefined) {
        l.profiledMax = max;
        used = true;
      }
    }
    if (used) {
      origins.push(profile.path);
      if (artifact.profileImages === undefined && profile.images !== undefined) artifact.profileImages = profile.images;
    }
  }
  const name = basename(path).replace(/\.json$/i, '').replace(/\.thresholds$/i, '');
  const source: ThresholdsSource = { label: artifact.method ? `${name} (${artifact.method})` : name, origins, artifact };
  const decisions = resolve(path.replace(/\.thresholds\.json$/i, '.decisions.json'));
  if (/\.thresholds\.json$/i.test(path) && existsSync(decisions)) {
    try {
      source.hardening = readHardeningArtifact(readJsonFile(decisions, 'decisions file'), decisions);
      source.hardeningPath = decisions;
    } catch (e) {
      if (!(e instanceof ProactError)) throw e;
      warnings.push(`${e.message} (hardening run not shown)`);
    }
  }
  return source;
}

function readJsonFile(path: string, what: string): JsonValue {
  let text: string;
  try {
    if (statSync(path).isDirectory()) throw new ProactError(`${path}: is a directory; give a ${what} (JSON)`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof ProactError) throw e;
    throw new ProactError(`${path}: cannot read the ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path`);
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new ProactError(`${path}: not valid JSON (${(e as Error).message}); give a ${what} with the shape docs/report.md describes`);
  }
}

/** Layer maxima of the `<stem>.profile.json` beside `<stem>.thresholds.json`, when there is a readable one. */
function siblingProfile(thresholdsPath: string): { path: string; images?: number; layerMax: Map<string, number> } | undefined {
  if (!/\.thresholds\.json$/i.test(thresholdsPath)) return undefined;
  const path = resolve(thresholdsPath.replace(/\.thresholds\.json$/i, '.profile.json'));
  if (!existsSync(path)) return undefined;
  try {
    const raw = JSON.parse(readFileSync(path, 'utf8')) as { format?: unknown; images?: unknown; layers?: unknown };
    if (raw.format !== 'proact-profile' || !Array.isArray(raw.layers)) return undefined;
    const layerMax = new Map<string, number>();
    for (const l of raw.layers as { node?: unknown; layerMax?: unknown }[]) {
      if (typeof l.node === 'string' && typeof l.layerMax === 'number' && Number.isFinite(l.layerMax)) layerMax.set(l.node, l.layerMax);
    }
    const out: { path: string; images?: number; layerMax: Map<string, number> } = { path, layerMax };
    if (typeof raw.images === 'number' && Number.isInteger(raw.images)) out.images = raw.images;
    return out;
  } catch {
    // An unreadable profile only means the chart shows no maxima.
    return undefined;
  }
}

/** Store file names, made unique by their folders when two stores share a name. */
function storeNames(paths: readonly string[]): string[] {
  const base = paths.map((p) => basename(p));
  return paths.map((p, i) => (base.filter((b) => b === base[i]).length > 1 ? `${basename(dirname(p))}/${base[i]}` : base[i]!));
}

/** The model file of a campaign: the stored path as given, else relative to the store's folder. */
function readModelInfo(record: CampaignRecord, storePath: string): ModelInfo {
  const candidates = isAbsolute(record.modelPath) ? [record.modelPath] : [resolve(record.modelPath), resolve(dirname(storePath), record.modelPath)];
  const path = candidates.find((p) => existsSync(p) && statSync(p).isFile());
  const none: ModelInfo = { status: 'missing', path: null, method: null, activations: null, metadata: {} };
  if (path === undefined) return none;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch {
    return { ...none, status: 'unreadable', path };
  }
  if (sha256(bytes) !== record.modelHash) return { ...none, status: 'changed', path };
  let metadata: Record<string, string>;
  try {
    metadata = readOnnx(bytes, { source: path }).metadata;
  } catch {
    return { ...none, status: 'unreadable', path };
  }
  const other = Object.fromEntries(Object.entries(metadata).filter(([k]) => k.startsWith('proact.') && k !== 'proact.activations'));
  return { status: 'found', path, method: metadata['proact.method'] ?? null, activations: parseActivations(metadata['proact.activations']), metadata: other };
}

function parseActivations(text: string | undefined): ActivationEntry[] | null {
  if (text === undefined) return null;
  try {
    const value = JSON.parse(text) as unknown;
    if (!Array.isArray(value)) return null;
    return value
      .filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && typeof (v as { node?: unknown }).node === 'string')
      .map((v) => {
        const entry: ActivationEntry = { node: String(v.node), kind: String(v.kind ?? 'unknown'), threshold: typeof v.threshold === 'string' ? v.threshold : null };
        if (typeof v.guard === 'boolean') entry.guard = v.guard;
        if (typeof v.k === 'number') entry.k = v.k;
        return entry;
      });
  } catch {
    return null;
  }
}

/** The method, from the most specific source that names one. */
function methodOf(c: ReportCampaign): string | null {
  const fromOptions = c.record.options.method;
  const named = c.hardening?.method ?? c.thresholds?.method ?? (typeof fromOptions === 'string' ? fromOptions : undefined) ?? c.model.method ?? undefined;
  if (named !== undefined) return named;
  // A model read from disk with no clipped activations recorded is the unprotected baseline.
  if (c.model.status === 'found' && (c.model.activations === null || c.model.activations.every((a) => a.kind === 'relu'))) return 'unprotected';
  return null;
}

function modelName(c: ReportCampaign): string {
  return basename(c.record.modelPath).replace(/\.onnx$/i, '');
}

/** The model name without the method in it: 'resnet20.proact' with method 'proact' is 'resnet20'. */
function modelCore(c: ReportCampaign): string {
  const name = modelName(c);
  if (c.method === null) return name;
  const method = c.method.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const core = name.replace(new RegExp(`[._-]?${method}(?=$|[._-])`, 'i'), '');
  return core.length > 0 ? core : name;
}

/**
 * Legend labels: an explicit options.label, else the method, with the model when the campaigns cover
 * several models. Labels that still collide get the options that tell them apart, then the campaign ref.
 */
function assignLabels(campaigns: ReportCampaign[]): void {
  const oneModel = new Set(campaigns.map(modelCore)).size === 1;
  for (const c of campaigns) {
    const explicit = c.record.options.label;
    if (typeof explicit === 'string' && explicit.length > 0) c.label = explicit;
    else if (c.method === null) c.label = modelName(c);
    else c.label = oneModel ? c.method : `${c.method} · ${modelCore(c)}`;
  }
  for (const group of groupBy(campaigns, (c) => c.label)) {
    if (group.length < 2) continue;
    const keys = [...new Set(group.flatMap((c) => Object.keys(c.record.options)))].sort();
    const differing = keys.filter((k) => new Set(group.map((c) => optionText(c.record.options[k]))).size > 1).slice(0, 2);
    const seedsDiffer = new Set(group.map((c) => c.record.seed)).size > 1;
    for (const c of group) {
      const parts = differing.map((k) => `${k}=${optionText(c.record.options[k])}`);
      if (seedsDiffer) parts.push(`seed=${c.record.seed}`);
      if (parts.length > 0) c.label = `${c.label} (${parts.join(', ')})`;
    }
  }
  for (const group of groupBy(campaigns, (c) => c.label)) {
    if (group.length > 1) for (const c of group) c.label = `${c.label} [${c.ref}]`;
  }
  // Labels come from paths and options in the stores: control characters would break the SVG/XML of
  // the figures, so they are shown escaped.
  for (const c of campaigns) {
    c.label = printable(c.label);
  }
}

function optionText(v: JsonValue | undefined): string {
  if (v === undefined) return '-';
  if (typeof v === 'string') return v;
  const text = canonicalJson(v);
  return text.length > 24 ? `${text.slice(0, 21)}...` : text;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return [...groups.values()];
}
