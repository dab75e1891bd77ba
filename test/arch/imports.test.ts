// The architecture promise of the README: one folder per concern, no import cycles. This reads the
// import statements of src/ and fails on a cycle between files or between folders, naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports, re-exports and dynamic imports of a file, resolved to .ts paths; `import type` included. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [
    ...[...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'/gms)].map((m) => m[1]!),
    ...[...text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g)].map((m) => m[1]!),
    ...[...text.matchAll(/^\s*import\s+'(\.[^']+)'/gm)].map((m) => m[1]!),
  ];
  return specs.map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts'));
}

function findCycle(edges: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of edges.get(n) ?? []) {
      if (state.get(m) === 'open') return [...stack.slice(stack.indexOf(m)), m];
      if (!state.has(m)) {
        const c = visit(m);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 'done');
    return null;
  };
  for (const n of edges.keys()) {
    if (!state.has(n)) {
      const c = visit(n);
      if (c) return c;
    }
  }
  return null;
}

const files = sourceFiles(SRC);
const fileEdges = new Map(files.map((f) => [f, new Set(importsOf(f))]));
const folderOf = (f: string): string => relative(SRC, f).split('/')[0]!.replace(/\.ts$/, '');

test('src/ has no import cycle between files', () => {
  assert.ok(files.length > 20, `found only ${files.length} files under ${SRC}`);
  for (const [f, deps] of fileEdges) for (const d of deps) assert.ok(fileEdges.has(d), `${relative(SRC, f)} imports missing ${relative(SRC, d)}`);
  const cycle = findCycle(fileEdges);
  assert.equal(cycle, null, `import cycle: ${cycle?.map((f) => relative(SRC, f)).join(' -> ')}`);
});

test('src/ folders depend on each other without a cycle', () => {
  const folderEdges = new Map<string, Set<string>>();
  for (const [f, deps] of fileEdges) {
    const from = folderOf(f);
    const set = folderEdges.get(from) ?? new Set<string>();
    for (const d of deps) if (folderOf(d) !== from) set.add(folderOf(d));
    folderEdges.set(from, set);
  }
  assert.ok((folderEdges.get('cli')?.size ?? 0) > 3, 'the CLI should sit on top of several folders');
  const cycle = findCycle(folderEdges);
  assert.equal(cycle, null, `folder cycle: ${cycle?.join(' -> ')}`);
});

test("README's Layout lists what each folder imports, exactly", () => {
  const readme = readFileSync(join(SRC, '../README.md'), 'utf8');
  const block = readme.slice(readme.indexOf('## Layout'));
  const claims = [...block.matchAll(/^src\/([a-z]+) .*\(([^)]*)\)$/gm)];
  const folders = [...new Set(files.map(folderOf))].filter((f) => f !== 'index' && f !== 'util');
  assert.deepEqual(claims.map((m) => m[1]).filter((f) => f !== 'util').sort(), folders.sort(), 'every src folder has one Layout line');
  for (const [, folder, list] of claims) {
    if (folder === 'util' || folder === 'cli') continue; // util: imported by all; cli: on top of everything
    const claimed = list!.startsWith('nothing') ? [] : list!.split(',').map((x) => x.trim());
    const actual = new Set<string>();
    for (const [f, deps] of fileEdges) if (folderOf(f) === folder) for (const d of deps) actual.add(folderOf(d));
    actual.delete(folder!);
    actual.delete('util');
    assert.deepEqual(claimed.sort(), [...actual].sort(), `README Layout line of src/${folder}`);
  }
});

/**
 * The layers, bottom up: a folder may import only folders of a lower rank (util is the floor, cli the roof).
 * A new folder must be ranked here: the test fails on an unranked one.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['util'],
  ['data', 'faults', 'graph'],
  ['autodiff', 'runtime'],
  ['train'],
  ['zoo', 'campaign'],
  ['harden', 'queue', 'report'],
  ['cli'],
  ['index'],
];
const rankOf = (folder: string): number => LAYERS.findIndex((layer) => layer.includes(folder));

/** A file's imports of a package (not relative), e.g. 'bullmq' or '@resvg/resvg-js'. */
function packagesOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^.'][^']*)'/gms), ...text.matchAll(/^\s*import\s+'([^.'][^']*)'/gm), ...text.matchAll(/\bimport\(\s*'([^.'][^']*)'\s*\)/g)]
    .map((m) => m[1]!)
    .filter((spec) => !spec.startsWith('node:'))
    .map((spec) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!));
}

/** Third-party packages that only one folder may import: each concern owns its dependency. */
const PACKAGE_HOMES: Record<string, string> = {
  'onnxruntime-node': 'runtime',
  bullmq: 'queue',
  ioredis: 'queue',
  'better-sqlite3': 'campaign/store.ts',
  vega: 'report',
  'vega-lite': 'report',
  '@resvg/resvg-js': 'report',
  'onnx-proto': 'graph',
  commander: 'cli',
  'cli-progress': 'cli',
};

test('an import only goes down the layers, and into another folder only through its index.ts', () => {
  for (const f of files) assert.ok(rankOf(folderOf(f)) >= 0, `src/${folderOf(f)} has no layer: rank it in LAYERS`);
  for (const [f, deps] of fileEdges) {
    const from = folderOf(f);
    for (const d of deps) {
      const to = folderOf(d);
      if (to === from) continue;
      assert.ok(rankOf(to) < rankOf(from), `${relative(SRC, f)} imports ${relative(SRC, d)}: ${from} (layer ${rankOf(from)}) may not import ${to} (layer ${rankOf(to)})`);
      // util is a handful of leaf files with no index; every other folder is entered through its index.ts.
      if (to !== 'util') assert.equal(relative(SRC, d), `${to}/index.ts`, `${relative(SRC, f)} reaches into ${relative(SRC, d)}: import from '../${to}/index.js'`);
    }
  }
});

test('each third-party package is imported by its own folder only', () => {
  let seen = 0;
  for (const f of files) {
    for (const pkg of packagesOf(f)) {
      const home = PACKAGE_HOMES[pkg];
      if (home === undefined) continue;
      seen++;
      const where = relative(SRC, f);
      assert.ok(home.endsWith('.ts') ? where === home : folderOf(f) === home, `${where} imports ${pkg}, which belongs to src/${home}`);
    }
  }
  assert.ok(seen >= Object.keys(PACKAGE_HOMES).length, `found only ${seen} imports of the confined packages: is the import reader broken?`);
});

test('the cycle finder itself reports a cycle', () => {
  const edges = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])]]);
  assert.deepEqual(findCycle(edges), ['a', 'b', 'c', 'a']);
});
