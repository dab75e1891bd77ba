/**
 * What `npm ci` must leave behind: the two native dependencies work (better-sqlite3's binding, built by
 * its install script; onnxruntime-node's bundled CPU library), onnxruntime-node's own install script did
 * not run (it downloads CUDA libraries on linux/x64 and fails offline), and every dependency with an
 * install script is reviewed in package.json's allowScripts, so a new one cannot slip in unnoticed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import * as ort from 'onnxruntime-node';
import { Graph, f32, writeOnnx } from '../../src/graph/index.js';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { allowScripts?: Record<string, boolean> };
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };

test('every dependency with an install script is approved or denied in package.json allowScripts', () => {
  const withScripts = Object.entries(lock.packages)
    .filter(([, p]) => p.hasInstallScript)
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
    .sort();
  assert.deepEqual(Object.keys(pkg.allowScripts ?? {}).sort(), withScripts);
  assert.equal(pkg.allowScripts!['better-sqlite3'], true, 'better-sqlite3 needs its install script for its native binding');
  assert.equal(pkg.allowScripts!['onnxruntime-node'], false, "onnxruntime-node's install script downloads CUDA libraries");
});

test('better-sqlite3: the native binding opens a WAL database and round-trips values', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'proact-install-')), 'x.sqlite');
  const db = new Database(path);
  try {
    assert.equal(db.pragma('journal_mode = WAL', { simple: true }), 'wal');
    db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v REAL)');
    db.prepare('INSERT INTO t VALUES (?, ?)').run(1, 0.25);
    assert.deepEqual(db.prepare('SELECT k, v FROM t').get(), { k: 1, v: 0.25 });
    assert.match(db.prepare('SELECT sqlite_version()').pluck().get() as string, /^3\.\d+\.\d+$/);
  } finally {
    db.close();
  }
});

test('onnxruntime-node: the bundled CPU library runs a model; no CUDA library was downloaded', async () => {
  const g = new Graph();
  g.inputs = [{ name: 'x', dtype: 'float32', dims: [3] }];
  const w = g.addConstant('w', f32([3], [2, -0.5, 4]));
  g.add('Mul', ['x', w], {}, { outputs: ['y'] });
  g.outputs = [{ name: 'y', dtype: 'float32', dims: [3] }];
  const session = await ort.InferenceSession.create(writeOnnx(g));
  try {
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.of(1.5, 8, -0.25), [3]) });
    assert.deepEqual([...(out.y!.data as Float32Array)], [3, -4, -1]);
  } finally {
    await session.release();
  }
  if (process.platform === 'linux' && process.arch === 'x64') {
    const bin = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin/napi-v6/linux/x64');
    assert.ok(existsSync(join(bin, 'onnxruntime_binding.node')));
    assert.equal(existsSync(join(bin, 'libonnxruntime_providers_cuda.so')), false, 'the install script ran and downloaded CUDA libraries');
  }
});
