/**
 * The results store: one SQLite file (better-sqlite3) that holds one or more campaigns and their trials.
 *
 * - A campaign is identified by `key` = sha256 of the canonical JSON of everything that changes its results
 *   (model hash, data identity, seed, every option that matters). Re-running the same command finds the same
 *   campaign and resumes it; a different option makes a different campaign, so results never mix.
 * - A trial is stored at most once: (campaign, ber, trial) is the primary key and inserts use INSERT OR
 *   IGNORE, reporting how many rows were new.
 * - Files are marked with PRAGMA application_id (PROACT_APPLICATION_ID) and PRAGMA user_version (the schema
 *   version): a SQLite file of another program, a corrupted file, a directory or an unwritable path gives a
 *   one-line ProactError naming the file and the fix, and a foreign database is never modified.
 * - WAL journal mode and a busy timeout let two processes (e.g. two shards on one machine) share a file;
 *   every write is one transaction, so a failure (full disk, read-only file) loses only the batch being
 *   written and keeps every trial committed before it.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ProactError } from '../util/errors.js';
import type { TrialOutcome } from './trial.js';

/** 'PrAc' in ASCII: marks a SQLite file as a proact results store. */
export const PROACT_APPLICATION_ID = 0x50724163;
/** Version of the tables below; files with a higher version were written by a newer proact. */
/** 2: trials.images (the images a trial evaluated; NULL = the whole evaluation set, as every version-1 trial). */
export const SCHEMA_VERSION = 2;
export const DEFAULT_BUSY_TIMEOUT_MS = 30_000;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** What identifies a campaign and what is recorded about it. */
export interface CampaignSpec {
  toolVersion: string;
  modelPath: string;
  /** sha256 (or any content hash) of the model file: part of the key, unlike the path. */
  modelHash: string;
  /** Identity of the evaluation data (e.g. 'cifar10-test:0-10000:<sha256>'): part of the key. */
  data: string;
  seed: number;
  /** Every option that changes results (method, BERs, trials, fault model, ...): part of the key. */
  options: JsonObject;
  cleanAccuracy?: number;
}

/** `partial`: a merge found planned trials missing (shards not merged in yet). */
export type CampaignStatus = 'running' | 'complete' | 'interrupted' | 'failed' | 'partial';

export interface CampaignRecord {
  id: number;
  key: string;
  /** ISO-8601 time the campaign was first created. */
  createdAt: string;
  toolVersion: string;
  modelPath: string;
  modelHash: string;
  data: string;
  seed: number;
  options: JsonObject;
  cleanAccuracy: number | null;
  status: CampaignStatus;
}

/** A trial as stored: what the trial measured plus where and when it ran. */
export interface TrialRecord extends TrialOutcome {
  /** Shard that ran it, e.g. '2/3'. */
  shard?: string | null;
  extra?: JsonObject | null;
  /** ISO-8601 time it was stored; now when omitted (merge keeps the original). */
  createdAt?: string;
}

export interface StoredTrial extends TrialRecord {
  campaignId: number;
  shard: string | null;
  extra: JsonObject | null;
  createdAt: string;
}

export interface InsertResult {
  /** Trials that were new and are now stored. */
  inserted: number;
  /** Trials that were already stored (left unchanged). */
  ignored: number;
}

export interface OpenStoreOptions {
  /** Open an existing store for reading only (reports, merge inputs); any write gives a ProactError. */
  readonly?: boolean;
  /** How long a write waits for another process holding the file (default 30 s). */
  busyTimeoutMs?: number;
}

/**
 * Canonical JSON: object keys sorted, no whitespace. Rejects what JSON cannot represent faithfully
 * (NaN, Infinity, undefined, functions), since JSON.stringify would silently turn those into null and
 * two different option sets into one key.
 */
export function canonicalJson(value: unknown, where = 'value'): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ProactError(`${where} is ${value}: only finite numbers can be stored as JSON`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v, i) => canonicalJson(v, `${where}[${i}]`)).join(',')}]`;
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k], `${where}.${k}`)}`);
    return `{${entries.join(',')}}`;
  }
  throw new ProactError(`${where} is a ${typeof value}: only JSON values (numbers, strings, booleans, null, arrays, plain objects) can be stored`);
}

/** The campaign key: sha256 of the canonical JSON of model hash, data identity, seed and options. */
export function campaignKey(spec: Pick<CampaignSpec, 'modelHash' | 'data' | 'seed' | 'options'>): string {
  const identity = { modelHash: spec.modelHash, data: spec.data, seed: spec.seed, options: spec.options };
  return createHash('sha256').update(canonicalJson(identity, 'campaign')).digest('hex');
}

/** Key of a trial in the set returned by `completedTrialKeys`. */
export function trialKey(ber: number, trial: number): string {
  return `${ber}:${trial}`;
}

const SCHEMA = `
CREATE TABLE campaigns (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  created TEXT NOT NULL,
  tool_version TEXT NOT NULL,
  model_path TEXT NOT NULL,
  model_hash TEXT NOT NULL,
  data TEXT NOT NULL,
  seed INTEGER NOT NULL,
  options_json TEXT NOT NULL,
  clean_accuracy REAL,
  status TEXT NOT NULL
);
CREATE TABLE trials (
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
  ber REAL NOT NULL,
  trial INTEGER NOT NULL,
  accuracy REAL NOT NULL,
  sdc REAL NOT NULL,
  due REAL NOT NULL,
  faults INTEGER NOT NULL,
  seconds REAL NOT NULL,
  shard TEXT,
  created TEXT NOT NULL,
  extra_json TEXT,
  images INTEGER,
  PRIMARY KEY (campaign_id, ber, trial)
) WITHOUT ROWID;
CREATE TABLE artifacts (
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
  name TEXT NOT NULL,
  json TEXT NOT NULL,
  created TEXT NOT NULL,
  PRIMARY KEY (campaign_id, name)
);
PRAGMA application_id = ${PROACT_APPLICATION_ID};
PRAGMA user_version = ${SCHEMA_VERSION};
`;

interface CampaignRow {
  id: number;
  key: string;
  created: string;
  tool_version: string;
  model_path: string;
  model_hash: string;
  data: string;
  seed: number;
  options_json: string;
  clean_accuracy: number | null;
  status: string;
}

interface TrialRow {
  campaign_id: number;
  ber: number;
  trial: number;
  accuracy: number;
  sdc: number;
  due: number;
  faults: number;
  seconds: number;
  shard: string | null;
  created: string;
  extra_json: string | null;
  /** Absent in version-1 files opened read-only. */
  images?: number | null;
}

/** Opens (or creates) a results store. Errors are one-line ProactErrors naming the file and the fix. */
export function openStore(path: string, options: OpenStoreOptions = {}): ResultStore {
  return new ResultStore(path, options);
}

export class ResultStore {
  /** Absolute path of the database file. */
  readonly path: string;
  readonly readonly: boolean;
  /** The underlying connection, for read queries the API does not cover (reports) and tests. */
  readonly db: Database.Database;

  constructor(path: string, options: OpenStoreOptions = {}) {
    this.path = resolve(path);
    this.readonly = options.readonly ?? false;
    checkPath(this.path, this.readonly);
    try {
      this.db = new Database(this.path, { readonly: this.readonly, fileMustExist: this.readonly });
    } catch (e) {
      throw storeError(this.path, 'opening', e);
    }
    try {
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.round(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS))}`);
      this.initialize();
      this.db.pragma('foreign_keys = ON');
    } catch (e) {
      this.db.close();
      throw storeError(this.path, 'opening', e);
    }
  }

  /** Reads the file's identity; creates the tables in an empty file; refuses anything else untouched. */
  private initialize(): void {
    const kind = this.identify();
    if (kind === 'empty') {
      if (this.readonly) {
        throw new ProactError(`${this.path}: empty file, not a proact results store; give the store a campaign wrote`);
      }
      // Another process may create the tables at the same moment: decide again under the write lock.
      this.db.transaction(() => {
        if (this.identify() === 'empty') this.db.exec(SCHEMA);
      }).immediate();
    }
    if (!this.readonly && Number(this.db.pragma('user_version', { simple: true })) === 1) {
      // Version 1 -> 2: every stored trial evaluated the whole set, which NULL says.
      this.db.transaction(() => {
        if (Number(this.db.pragma('user_version', { simple: true })) === 1) {
          this.db.exec('ALTER TABLE trials ADD COLUMN images INTEGER');
          this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
        }
      }).immediate();
    }
    if (!this.readonly) this.db.pragma('journal_mode = WAL');
  }

  private identify(): 'empty' | 'proact' {
    const applicationId = Number(this.db.pragma('application_id', { simple: true }));
    const version = Number(this.db.pragma('user_version', { simple: true }));
    const objects = Number(this.db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get());
    if (applicationId === 0 && version === 0 && objects === 0) return 'empty';
    if (applicationId !== PROACT_APPLICATION_ID) {
      throw new ProactError(
        `${this.path}: a SQLite database of another program (application_id ${applicationId}), not a proact results store; proact leaves it untouched — choose another store path`,
      );
    }
    if (version > SCHEMA_VERSION) {
      throw new ProactError(
        `${this.path}: results store schema ${version} was written by a newer proact (this one reads up to ${SCHEMA_VERSION}); upgrade proact`,
      );
    }
    if (version < 1) throw new ProactError(`${this.path}: proact results store without a schema version (damaged); choose another store path`);
    return 'proact';
  }

  /** Runs `fn` in one immediate write transaction (nested calls become savepoints). */
  transaction<T>(action: string, fn: () => T): T {
    return this.guard(action, () => this.db.transaction(fn).immediate());
  }

  /**
   * Finds the campaign with this spec's key, or creates it with status 'running'. A clean accuracy given
   * here fills a campaign that has none yet.
   */
  findOrCreateCampaign(spec: CampaignSpec): { id: number; key: string; created: boolean } {
    const key = campaignKey(spec);
    const optionsJson = canonicalJson(spec.options, 'options');
    if (spec.cleanAccuracy !== undefined) checkFinite(spec.cleanAccuracy, 'clean accuracy');
    return this.transaction('creating a campaign', () => {
      const result = this.db
        .prepare(
          `INSERT OR IGNORE INTO campaigns (key, created, tool_version, model_path, model_hash, data, seed, options_json, clean_accuracy, status)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')`,
        )
        .run(key, new Date().toISOString(), spec.toolVersion, spec.modelPath, spec.modelHash, spec.data, spec.seed, optionsJson, spec.cleanAccuracy ?? null);
      const id = Number(this.db.prepare('SELECT id FROM campaigns WHERE key = ?').pluck().get(key));
      if (result.changes > 0) this.refuseOrphans(id);
      if (result.changes === 0 && spec.cleanAccuracy !== undefined) {
        this.db.prepare('UPDATE campaigns SET clean_accuracy = ? WHERE id = ? AND clean_accuracy IS NULL').run(spec.cleanAccuracy, id);
      }
      return { id, key, created: result.changes > 0 };
    });
  }

  /**
   * Copies a campaign from another store, keeping its key, creation time and status (used by merge).
   * Returns the id here and whether it was new.
   */
  importCampaign(record: CampaignRecord): { id: number; created: boolean } {
    return this.transaction('importing a campaign', () => {
      const result = this.db
        .prepare(
          `INSERT OR IGNORE INTO campaigns (key, created, tool_version, model_path, model_hash, data, seed, options_json, clean_accuracy, status)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          record.key,
          record.createdAt,
          record.toolVersion,
          record.modelPath,
          record.modelHash,
          record.data,
          record.seed,
          canonicalJson(record.options, 'options'),
          record.cleanAccuracy,
          record.status,
        );
      const id = Number(this.db.prepare('SELECT id FROM campaigns WHERE key = ?').pluck().get(record.key));
      if (result.changes > 0) this.refuseOrphans(id);
      return { id, created: result.changes > 0 };
    });
  }

  /** A campaign by id (number) or key (string), or undefined. */
  getCampaign(idOrKey: number | string): CampaignRecord | undefined {
    return this.guard('reading a campaign', () => {
      const column = typeof idOrKey === 'number' ? 'id' : 'key';
      const row = this.db.prepare<[number | string], CampaignRow>(`SELECT * FROM campaigns WHERE ${column} = ?`).get(idOrKey);
      return row === undefined ? undefined : campaignFromRow(row, this.path);
    });
  }

  listCampaigns(): CampaignRecord[] {
    return this.guard('listing campaigns', () =>
      this.db.prepare<[], CampaignRow>('SELECT * FROM campaigns ORDER BY id').all().map((row) => campaignFromRow(row, this.path)),
    );
  }

  setStatus(campaignId: number, status: CampaignStatus): void {
    this.guard('setting the campaign status', () => {
      this.requireCampaign(campaignId);
      this.db.prepare('UPDATE campaigns SET status = ? WHERE id = ?').run(status, campaignId);
    });
  }

  setCleanAccuracy(campaignId: number, cleanAccuracy: number): void {
    checkFinite(cleanAccuracy, 'clean accuracy');
    this.guard('setting the clean accuracy', () => {
      this.requireCampaign(campaignId);
      this.db.prepare('UPDATE campaigns SET clean_accuracy = ? WHERE id = ?').run(cleanAccuracy, campaignId);
    });
  }

  /** Stores new trials in one transaction; a trial already stored is left as it was and counted as ignored. */
  insertTrials(campaignId: number, records: readonly TrialRecord[]): InsertResult {
    records.forEach(checkTrial);
    return this.transaction('saving trials', () => {
      this.requireCampaign(campaignId);
      const insert = this.db.prepare(
        `INSERT OR IGNORE INTO trials (campaign_id, ber, trial, accuracy, sdc, due, faults, seconds, shard, created, extra_json, images)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const now = new Date().toISOString();
      let inserted = 0;
      for (const r of records) {
        const extra = r.extra == null ? null : canonicalJson(r.extra, `trial ${trialKey(r.ber, r.trial)} extra`);
        inserted += insert.run(campaignId, r.ber, r.trial, r.accuracy, r.sdc, r.due, r.faults, r.seconds, r.shard ?? null, r.createdAt ?? now, extra, r.images ?? null).changes;
      }
      return { inserted, ignored: records.length - inserted };
    });
  }

  /** Stores one trial; true when it was new. */
  insertTrial(campaignId: number, record: TrialRecord): boolean {
    return this.insertTrials(campaignId, [record]).inserted === 1;
  }

  /** Trials of a campaign (optionally of one BER), ordered by BER then trial. */
  trials(campaignId: number, ber?: number): StoredTrial[] {
    return this.guard('reading trials', () => {
      const rows =
        ber === undefined
          ? this.db.prepare<[number], TrialRow>('SELECT * FROM trials WHERE campaign_id = ? ORDER BY ber, trial').all(campaignId)
          : this.db.prepare<[number, number], TrialRow>('SELECT * FROM trials WHERE campaign_id = ? AND ber = ? ORDER BY trial').all(campaignId, ber);
      return rows.map((row) => trialFromRow(row, this.path));
    });
  }

  /** The stored trial at (ber, trial), or undefined. */
  getTrial(campaignId: number, ber: number, trial: number): StoredTrial | undefined {
    return this.guard('reading a trial', () => {
      const row = this.db
        .prepare<[number, number, number], TrialRow>('SELECT * FROM trials WHERE campaign_id = ? AND ber = ? AND trial = ?')
        .get(campaignId, ber, trial);
      return row === undefined ? undefined : trialFromRow(row, this.path);
    });
  }

  /** Distinct BERs with at least one stored trial, ascending. */
  bers(campaignId: number): number[] {
    return this.guard('reading BERs', () =>
      this.db.prepare<[number], number>('SELECT DISTINCT ber FROM trials WHERE campaign_id = ? ORDER BY ber').pluck().all(campaignId),
    );
  }

  /** `trialKey(ber, trial)` of every stored trial: what a resumed campaign skips. */
  completedTrialKeys(campaignId: number): Set<string> {
    return this.guard('reading trials', () => {
      const rows = this.db.prepare<[number], { ber: number; trial: number }>('SELECT ber, trial FROM trials WHERE campaign_id = ?').all(campaignId);
      return new Set(rows.map((r) => trialKey(r.ber, r.trial)));
    });
  }

  countTrials(campaignId: number): number {
    return this.guard('counting trials', () =>
      Number(this.db.prepare('SELECT count(*) FROM trials WHERE campaign_id = ?').pluck().get(campaignId)),
    );
  }

  /** Stores (or replaces) a named JSON artifact of a campaign: thresholds, overhead, hardening log, ... */
  putArtifact(campaignId: number, name: string, value: JsonValue): void {
    if (name.length === 0) throw new ProactError('artifact name is empty: give a name such as "thresholds"');
    const json = canonicalJson(value, `artifact ${name}`);
    this.transaction(`saving artifact ${name}`, () => {
      this.requireCampaign(campaignId);
      this.db
        .prepare('INSERT OR REPLACE INTO artifacts (campaign_id, name, json, created) VALUES (?, ?, ?, ?)')
        .run(campaignId, name, json, new Date().toISOString());
    });
  }

  getArtifact(campaignId: number, name: string): JsonValue | undefined {
    return this.guard(`reading artifact ${name}`, () => {
      const json = this.db.prepare<[number, string], string>('SELECT json FROM artifacts WHERE campaign_id = ? AND name = ?').pluck().get(campaignId, name);
      return json === undefined ? undefined : storedJson(json, this.path, `artifact '${name}' of campaign ${campaignId}`);
    });
  }

  /** Names of a campaign's artifacts, sorted. */
  listArtifacts(campaignId: number): string[] {
    return this.guard('listing artifacts', () =>
      this.db.prepare<[number], string>('SELECT name FROM artifacts WHERE campaign_id = ? ORDER BY name').pluck().all(campaignId),
    );
  }

  close(): void {
    if (!this.db.open) return;
    if (!this.readonly) {
      // Leave the file in rollback-journal mode when this is the last connection: a WAL-mode file makes
      // every later reader (report, export, merge input) create -wal and -shm files beside it, files the
      // user never asked for. With another process still connected SQLite keeps WAL (busy): fine.
      try {
        this.db.pragma('busy_timeout = 0'); // never wait for the other process: it keeps the file in WAL
        this.db.pragma('journal_mode = DELETE');
      } catch {
        // another connection holds the file: it stays in WAL mode, as it must
      }
    }
    this.db.close();
  }

  /**
   * A new campaign must start empty. Trials or artifacts already filed under its id belong to a
   * campaign whose row was deleted (by hand, with foreign keys off; stores of schema 1 reuse ids): a
   * new, different campaign would adopt them as its own. Refused as damage (the transaction rolls back).
   */
  private refuseOrphans(id: number): void {
    const trials = Number(this.db.prepare('SELECT count(*) FROM trials WHERE campaign_id = ?').pluck().get(id));
    const artifacts = Number(this.db.prepare('SELECT count(*) FROM artifacts WHERE campaign_id = ?').pluck().get(id));
    if (trials + artifacts > 0) {
      throw damaged(this.path, `campaign id ${id}`, `has ${trials} trials and ${artifacts} artifacts of a deleted campaign (orphans), which a new campaign would adopt`);
    }
  }

  private requireCampaign(campaignId: number): void {
    const found = this.db.prepare('SELECT 1 FROM campaigns WHERE id = ?').pluck().get(campaignId);
    if (found === undefined) throw new ProactError(`${this.path}: no campaign with id ${campaignId}; list them with listCampaigns()`);
  }

  /** Runs `fn`, turning SQLite failures into one-line ProactErrors that name the file and the fix. */
  private guard<T>(action: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw storeError(this.path, action, e);
    }
  }
}

const CSV_COLUMNS = ['ber', 'trial', 'accuracy', 'sdc', 'due', 'faults', 'seconds', 'shard', 'created', 'extra_json'] as const;

/**
 * The trials of a campaign as CSV (RFC 4180 quoting: fields with a comma, quote or line break are quoted,
 * quotes doubled), one header line, '\n' line ends, numbers written so they read back exactly.
 */
export function exportTrialsCsv(store: ResultStore, campaignId: number): string {
  if (store.getCampaign(campaignId) === undefined) {
    throw new ProactError(`${store.path}: no campaign with id ${campaignId}; list them with listCampaigns()`);
  }
  const lines = [CSV_COLUMNS.join(',')];
  for (const t of store.trials(campaignId)) {
    const extra = t.extra === null ? '' : canonicalJson(t.extra);
    const fields = [t.ber, t.trial, t.accuracy, t.sdc, t.due, t.faults, t.seconds, t.shard ?? '', t.createdAt, extra];
    lines.push(fields.map((f) => csvField(String(f))).join(','));
  }
  return lines.join('\n') + '\n';
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Rows are checked as they are read: a damaged file (or one edited by hand) can hold NULLs, text in
 * number columns or broken JSON despite the schema, and must give a one-line error, not wrong numbers.
 */
/** A store's record that no proact run can have written: named with the file and the fix. */
export function damaged(path: string, what: string, problem: string): ProactError {
  return new ProactError(`${path}: damaged results store: ${what} ${problem}; restore the file from a copy or choose another store path`);
}

function storedJson(text: unknown, path: string, what: string): JsonValue {
  if (typeof text !== 'string') throw damaged(path, what, 'is not JSON text');
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw damaged(path, what, 'is not valid JSON');
  }
}

function storedObject(text: unknown, path: string, what: string): JsonObject {
  const value = storedJson(text, path, what);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw damaged(path, what, 'is not a JSON object');
  return value;
}

const CAMPAIGN_STATUSES: readonly string[] = ['running', 'complete', 'interrupted', 'failed', 'partial'];
const isInteger = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function campaignFromRow(row: CampaignRow, path: string): CampaignRecord {
  const what = `campaign row ${String(row.id)}`;
  if (!isInteger(row.id)) throw damaged(path, what, 'has no integer id');
  for (const column of ['key', 'created', 'tool_version', 'model_path', 'model_hash', 'data'] as const)
    if (typeof row[column] !== 'string') throw damaged(path, what, `has ${column} ${String(row[column])}, not text`);
  if (!isInteger(row.seed)) throw damaged(path, what, `has seed ${String(row.seed)}, not an integer`);
  if (row.clean_accuracy !== null && !isFiniteNumber(row.clean_accuracy)) throw damaged(path, what, `has clean accuracy ${String(row.clean_accuracy)}`);
  if (!CAMPAIGN_STATUSES.includes(row.status)) throw damaged(path, what, `has status ${String(row.status)}`);
  return {
    id: row.id,
    key: row.key,
    createdAt: row.created,
    toolVersion: row.tool_version,
    modelPath: row.model_path,
    modelHash: row.model_hash,
    data: row.data,
    seed: row.seed,
    options: storedObject(row.options_json, path, `${what} options`),
    cleanAccuracy: row.clean_accuracy,
    status: row.status as CampaignStatus,
  };
}

function trialFromRow(row: TrialRow, path: string): StoredTrial {
  const what = `trial row (campaign ${String(row.campaign_id)}, BER ${String(row.ber)}, trial ${String(row.trial)})`;
  if (!isInteger(row.campaign_id)) throw damaged(path, what, 'has no integer campaign id');
  if (!(isFiniteNumber(row.ber) && row.ber >= 0)) throw damaged(path, what, 'has an invalid BER');
  if (!(isInteger(row.trial) && row.trial >= 0)) throw damaged(path, what, 'has an invalid trial index');
  if (!(isInteger(row.faults) && row.faults >= 0)) throw damaged(path, what, `has faults ${String(row.faults)}`);
  for (const column of ['accuracy', 'sdc', 'due', 'seconds'] as const)
    if (!isFiniteNumber(row[column])) throw damaged(path, what, `has ${column} ${String(row[column])}, not a finite number`);
  // Fractions of the evaluated images: a value outside [0, 1] no campaign can produce.
  for (const column of ['accuracy', 'sdc', 'due'] as const)
    if (!(row[column] >= 0 && row[column] <= 1)) throw damaged(path, what, `has ${column} ${row[column]}, outside [0, 1]`);
  if (row.seconds < 0) throw damaged(path, what, `has a negative time ${row.seconds}`);
  if (row.shard !== null && typeof row.shard !== 'string') throw damaged(path, what, 'has a shard that is not text');
  if (typeof row.created !== 'string') throw damaged(path, what, 'has no creation time');
  const images = row.images ?? null;
  if (images !== null && !(isInteger(images) && images >= 1)) throw damaged(path, what, `has images ${String(images)}`);
  return {
    campaignId: row.campaign_id,
    ber: row.ber,
    trial: row.trial,
    accuracy: row.accuracy,
    sdc: row.sdc,
    due: row.due,
    faults: row.faults,
    seconds: row.seconds,
    ...(images === null ? {} : { images }),
    shard: row.shard,
    createdAt: row.created,
    extra: row.extra_json === null ? null : storedObject(row.extra_json, path, `${what} extra`),
  };
}

function checkFinite(value: number, what: string): void {
  if (!Number.isFinite(value)) throw new ProactError(`${what} is ${value}: must be a finite number`);
}

function checkTrial(r: TrialRecord): void {
  const where = `trial ${r.trial} at BER ${r.ber}`;
  if (!(Number.isFinite(r.ber) && r.ber >= 0)) throw new ProactError(`${where}: BER must be a finite number >= 0`);
  if (!(Number.isInteger(r.trial) && r.trial >= 0)) throw new ProactError(`${where}: trial index must be an integer >= 0`);
  if (!(Number.isInteger(r.faults) && r.faults >= 0)) throw new ProactError(`${where}: faults ${r.faults} must be an integer >= 0`);
  for (const field of ['accuracy', 'sdc', 'due', 'seconds'] as const) {
    if (!Number.isFinite(r[field])) throw new ProactError(`${where}: ${field} is ${r[field]}, must be a finite number`);
  }
  for (const field of ['accuracy', 'sdc', 'due'] as const) {
    if (!(r[field] >= 0 && r[field] <= 1)) throw new ProactError(`${where}: ${field} is ${r[field]}, must be a fraction in [0, 1]`);
  }
}

/** Refuses paths SQLite would fail on with an unclear message: directories, missing or unwritable places. */
function checkPath(path: string, readonly: boolean): void {
  let isFile = false;
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) throw new ProactError(`${path}: is a directory; give a file path for the results store, e.g. ${path}/results.db`);
    isFile = true;
  } catch (e) {
    if (e instanceof ProactError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw storeError(path, 'opening', e);
  }
  if (readonly) {
    if (!isFile) throw new ProactError(`${path}: no such results store; check the path or run a campaign that writes it`);
    return;
  }
  const folder = dirname(path);
  try {
    mkdirSync(folder, { recursive: true });
  } catch (e) {
    throw new ProactError(`${path}: cannot create its folder ${folder} (${(e as Error).message}); choose a writable path`);
  }
  // SQLite would open an unwritable file read-only without saying so; WAL also needs files beside it.
  if (isFile && !writable(path)) {
    throw new ProactError(`${path}: results store is read-only; make it writable (chmod u+w) or open it read-only to report`);
  }
  if (!writable(folder)) {
    throw new ProactError(`${path}: folder ${folder} is read-only; the store needs to write files beside it, choose a writable path`);
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** One-line ProactError for a failure of the store at `path` while doing `action`. */
function storeError(path: string, action: string, e: unknown): Error {
  if (e instanceof ProactError) return e;
  const code = String((e as { code?: unknown }).code ?? '');
  const detail = (e as Error).message ?? String(e);
  const fix = (() => {
    if (code.startsWith('SQLITE_FULL')) {
      return 'disk or database is full; every trial committed before this batch is kept — free space or move the store, then rerun the same command to resume';
    }
    if (code.startsWith('SQLITE_READONLY')) {
      return 'store is read-only; make the file and its folder writable, or choose another store path';
    }
    if (code.startsWith('SQLITE_CANTOPEN') || code === 'EACCES' || code === 'EPERM') {
      return 'cannot open the file; check that its folder exists and is writable, or choose another store path';
    }
    if (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT')) {
      return 'not a SQLite database or a corrupted one; proact leaves it untouched — choose another store path';
    }
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      return 'locked by another process for too long; wait until it finishes or use another store file';
    }
    if (code.startsWith('SQLITE_IOERR')) return 'input/output error; check the disk and free space, then rerun to resume';
    return undefined;
  })();
  if (fix === undefined) {
    if (!code.startsWith('SQLITE_') && !(e instanceof Error && e.name === 'SqliteError')) return e instanceof Error ? e : new Error(String(e));
    return new ProactError(`${path}: ${action} failed (${code}: ${oneLine(detail)}); check the file or choose another store path`, { cause: e });
  }
  return new ProactError(`${path}: ${action} failed: ${fix} (${code})`, { cause: e });
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
