/**
 * The README's tour commands and library example are executed here, so they cannot rot: every
 * `npx proact ...` line of the tour (in order) and the TypeScript example (run as an ES module that
 * imports 'proact' through the package's own exports).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { CLI } from '../helpers/cli.js';

const readme = readFileSync('README.md', 'utf8');

function blocks(lang: string): string[] {
  const re = new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g');
  return [...readme.matchAll(re)].map((m) => m[1]!);
}

test('README: every `npx proact` command of the tour runs and succeeds', () => {
  const commands = blocks('sh')
    .map((b) => b.replace(/\\\n\s*/g, ' '))
    .flatMap((b) => b.split('\n'))
    .map((l) => l.trim())
    .filter((l) => l.startsWith('npx proact '));
  assert.ok(commands.length >= 5, `found ${commands.length} commands`);
  // The tour writes to fixed /tmp paths: start from a clean slate (a ProAct checkpoint left by an
  // older run with other settings would, rightly, be refused).
  for (const f of readdirSync('/tmp')) if (f.startsWith('lenet')) rmSync(`/tmp/${f}`, { recursive: true, force: true });
  for (const line of commands) {
    const args = line.slice('npx proact '.length).split(/\s+/);
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, PROACT_NO_PROGRESS: '1' }, timeout: 300_000 });
    assert.equal(r.status, 0, `${line}\n${r.stderr}`);
  }
});

test('README: the library example runs against the package exports', () => {
  const ts = blocks('ts');
  assert.equal(ts.length, 1);
  const file = 'readme-example.test-tmp.mjs';
  writeFileSync(file, ts[0]!);
  try {
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /accuracy 9\d\.\d\d%/);
  } finally {
    rmSync(file, { force: true });
  }
});
