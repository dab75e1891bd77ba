/**
 * Array jobs without a queue: the documented Slurm script (docs/slurm-array.sh) and the scripts of the
 * Kubernetes Indexed Job (docs/k8s-indexed-job.yaml) are run here as the schedulers would run them
 * (SLURM_ARRAY_TASK_ID / JOB_COMPLETION_INDEX set, shards in parallel, then the merge step), and the merged
 * database must hold exactly the trials of one local run.
 */
import { test } from 'node:test';
import { trialsOf } from '../helpers/stores.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCampaign } from '../../src/campaign/index.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';
import { CLI } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-array-'));
const model = writeTinyCnn(join(dir, 'tiny.onnx'));
const campaignArgs = '--ber 1e-3,1e-2 --trials 6 --eval-limit 300 --seed 7 --batch 100';
const PROACT = `${process.execPath} ${CLI}`;


/** Runs a shell script with `env` added; resolves with its exit code and output (bounded by `timeoutMs`). */
function sh(shell: string, args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(shell, args, { env: { ...process.env, PROACT_NO_PROGRESS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

let referenceRun: Promise<string[]> | undefined;
/** Per-trial results of the same campaign run locally in one process. */
function reference(): Promise<string[]> {
  const db = join(dir, 'reference.sqlite');
  referenceRun ??= runCampaign({ model, data: 'mnist', bers: [1e-3, 1e-2], trials: 6, evalLimit: 300, seed: 7, batchSize: 100, db }).then(() => trialsOf(db));
  return referenceRun;
}

test('docs/slurm-array.sh: 3 array tasks and the merge step give the trials of one run', async () => {
  const script = resolve('docs/slurm-array.sh');
  const out = join(dir, 'slurm');
  const env = { PROACT, MODEL: model, DATA: 'mnist', OUT: out, CAMPAIGN_ARGS: campaignArgs, SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_MIN: '0', SLURM_CPUS_PER_TASK: '1' };
  // --array=0-2: task ids 0..2 become shards 1/3..3/3.
  const tasks = await Promise.all([0, 1, 2].map((id) => sh('bash', [script], { ...env, SLURM_ARRAY_TASK_ID: String(id) })));
  for (const t of tasks) assert.equal(t.code, 0, t.stderr);
  assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.sqlite')).sort(), ['shard-1.sqlite', 'shard-2.sqlite', 'shard-3.sqlite']);
  const summary = JSON.parse(readFileSync(join(out, 'shard-2.json'), 'utf8')) as { perBer: { accuracy: { n: number } }[] };
  assert.deepEqual(summary.perBer.map((b) => b.accuracy.n), [2, 2], 'shard 2 of 3 holds a third of each BER');
  const merge = await sh('bash', [script], { ...env, PROACT_STEP: 'merge' });
  assert.equal(merge.code, 0, merge.stderr);
  assert.match(merge.stdout, /1e-3\s+6\s/);
  assert.deepEqual(trialsOf(join(out, 'campaign.sqlite')), await reference());
  // Outside an array job the script says how to submit it.
  const alone = await sh('bash', [script], { ...env, SLURM_ARRAY_TASK_ID: '' });
  assert.notEqual(alone.code, 0);
  assert.match(alone.stderr, /sbatch --array=1-N/);
});

/** The `- |` block scalar of the container named `name` in the YAML: its shell script. */
function containerScript(yaml: string, name: string): string {
  const lines = yaml.split('\n');
  const at = lines.findIndex((l) => l.trim() === `- name: ${name}`);
  assert.ok(at >= 0, `container ${name} in the YAML`);
  const start = lines.findIndex((l, i) => i > at && /^\s*- \|\s*$/.test(l));
  const body: string[] = [];
  const indent = lines[start + 1]!.search(/\S/);
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() !== '' && line.search(/\S/) < indent) break;
    body.push(line.slice(indent));
  }
  return body.join('\n');
}

test('docs/k8s-indexed-job.yaml: the shard pods (JOB_COMPLETION_INDEX 0, 1) and the merge pod give the trials of one run', async () => {
  const yaml = readFileSync(resolve('docs/k8s-indexed-job.yaml'), 'utf8');
  assert.match(yaml, /completionMode: Indexed/);
  const out = join(dir, 'k8s');
  const env = { PROACT, MODEL: model, DATA: 'mnist', OUT: out, CAMPAIGN_ARGS: campaignArgs, SHARDS: '2', WORKERS: '1', WAIT_SECONDS: '0' };
  const shard = containerScript(yaml, 'shard');
  const pods = await Promise.all([0, 1].map((i) => sh('sh', ['-c', shard], { ...env, JOB_COMPLETION_INDEX: String(i) })));
  for (const p of pods) assert.equal(p.code, 0, p.stderr);
  const merge = await sh('sh', ['-c', containerScript(yaml, 'merge')], env);
  assert.equal(merge.code, 0, merge.stderr);
  assert.deepEqual(trialsOf(join(out, 'campaign.sqlite')), await reference());
});
