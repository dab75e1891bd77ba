// Runs every compiled test file (dist/test/**/*.test.js) with Node's built-in test runner.
// Node 20 does not expand globs itself, so the files are listed here.
//
// Every file (and every test in it) runs under a time limit, --test-timeout, PROACT_TEST_TIMEOUT_S
// seconds (default 600): a hang fails its file instead of stalling the suite. At the end every skipped
// test is listed with its reason, then "skipped: N". A skip tagged with something PROACT_REQUIRE lists
// (test/helpers/requirements.ts tags them "[shared] ...") fails the run, a second guard behind the
// helper's own failure.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const filter = process.argv.slice(2);
let files = find('dist/test').sort();
if (filter.length) files = files.filter((f) => filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files found under dist/test (did the build run?)');
  process.exit(1);
}
const timeoutS = Number(process.env.PROACT_TEST_TIMEOUT_S ?? 600);
if (!(timeoutS > 0)) {
  console.error(`PROACT_TEST_TIMEOUT_S=${process.env.PROACT_TEST_TIMEOUT_S} is not a positive number of seconds`);
  process.exit(1);
}
const tmp = mkdtempSync(join(tmpdir(), 'proact-test-'));
const skipsFile = join(tmp, 'skips.jsonl');
const reporter = fileURLToPath(new URL('./skip-reporter.mjs', import.meta.url));
const r = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-concurrency=2',
    `--test-timeout=${Math.round(timeoutS * 1000)}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${reporter}`,
    `--test-reporter-destination=${skipsFile}`,
    ...files,
  ],
  { stdio: 'inherit' },
);
let skips = [];
try {
  skips = readFileSync(skipsFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
} catch {
  // No file: the runner died before reporting; its exit status below says so.
}
rmSync(tmp, { recursive: true, force: true });

const required = new Set((process.env.PROACT_REQUIRE ?? '').split(',').map((s) => s.trim()).filter(Boolean));
let forbidden = 0;
if (skips.length) console.log('\nskipped tests:');
for (const s of skips) {
  const tag = /^\[([a-z-]+)\]/.exec(s.reason)?.[1];
  const bad = tag !== undefined && required.has(tag);
  if (bad) forbidden++;
  console.log(`  ${bad ? 'NOT ALLOWED ' : ''}${s.file}: ${s.name}: ${s.reason}`);
}
console.log(`skipped: ${skips.length}`);
if (forbidden) console.log(`${forbidden} skipped for a reason PROACT_REQUIRE=${process.env.PROACT_REQUIRE} rules out`);
process.exit(forbidden ? 1 : (r.status ?? 1));
