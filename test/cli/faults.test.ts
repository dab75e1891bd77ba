/**
 * `proact faults show|replay` on the tiny MNIST CNN (no ../shared): the plan shown is the one the
 * campaign injects (same fault count), and replaying it gives the campaign's stored trial results
 * exactly; bad input is a one-line error with exit code 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, runCampaign, type CampaignOptions, type StoredTrial } from '../../src/campaign/index.js';
import { planFromJSON } from '../../src/faults/index.js';
import { Graph, f32, int, writeOnnx } from '../../src/graph/index.js';
import { expectUserError, runCli } from '../helpers/cli.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-faults-cli-'));
const model = writeTinyCnn(join(dir, 'tiny.onnx'));

async function campaignTrials(opts: Omit<CampaignOptions, 'model' | 'data' | 'db'>, db: string): Promise<StoredTrial[]> {
  await runCampaign({ model, data: 'mnist', evalLimit: 300, db, ...opts });
  const store = openStore(db, { readonly: true });
  try {
    return store.trials(store.listCampaigns()[0]!.id);
  } finally {
    store.close();
  }
}

interface ReplayJson {
  accuracy: number;
  sdc: number;
  due: number;
  faults: number;
  images: number;
  surface: string[];
  logitsSha256: string;
}

const configurations: { name: string; campaign: Omit<CampaignOptions, 'model' | 'data' | 'db'>; flags: string[] }[] = [
  { name: 'defaults', campaign: { bers: [3e-4], trials: 2, seed: 7 }, flags: ['--seed', '7'] },
  {
    name: 'int8, fixed:3, weights only',
    campaign: { bers: [1e-3], trials: 2, seed: 11, faults: { format: 'int8', count: 'fixed:3', surface: ['weight'] } },
    flags: ['--seed', '11', '--format', 'int8', '--count', 'fixed:3', '--surface', 'weight'],
  },
];

for (const config of configurations) {
  test(`faults show/replay (${config.name}): the plan shown is the campaign's, and replaying it gives the stored trial`, async () => {
    const db = join(dir, `${config.name.replace(/\W/g, '')}.sqlite`);
    const stored = await campaignTrials(config.campaign, db);
    assert.equal(stored.length, 2);
    const ber = config.campaign.bers![0]!;
    const results: ReplayJson[] = [];
    for (const trial of stored) {
      const planFile = join(dir, `${config.name.replace(/\W/g, '')}-${trial.trial}.json`);
      const show = runCli(['faults', 'show', '--model', model, '--ber', String(ber), '--trial', String(trial.trial), ...config.flags, '--out', planFile, '--json']);
      assert.equal(show.code, 0, show.stderr);
      const plan = planFromJSON(show.stdout);
      assert.deepEqual(planFromJSON(readFileSync(planFile, 'utf8')), plan, '--out writes the plan --json prints');
      assert.equal(plan.faults.length, trial.faults, `trial ${trial.trial}: fault count`);
      assert.equal(plan.seed, config.campaign.seed);

      const replay = runCli(['faults', 'replay', '--model', model, '--plan', planFile, '--data', 'mnist', '--eval-limit', '300', '--json']);
      assert.equal(replay.code, 0, replay.stderr);
      const r = JSON.parse(replay.stdout) as ReplayJson;
      assert.equal(r.images, 300);
      assert.deepEqual([r.accuracy, r.sdc, r.due], [trial.accuracy, trial.sdc, trial.due], `trial ${trial.trial}: replay = campaign`);
      assert.deepEqual(r.surface, config.campaign.faults?.surface ?? ['weight', 'bias']); // the tiny CNN has no thresholds
      results.push(r);
    }
    // The trials differ from each other, so matching them is not matching a constant.
    assert.equal(new Set(results.map((r) => r.logitsSha256)).size, 2);
  });
}

test('faults show prints a table of tensor, index, bit, before, after and the count', () => {
  const planFile = join(dir, 'table.json');
  const shown = runCli(['faults', 'show', '--model', model, '--ber', '1e-3', '--trial', '4', '--count', 'reference', '--out', planFile]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stderr, /wrote the plan of trial 4 \(106 faults in 107,584 stored bits\) to .*table\.json/);
  const plan = planFromJSON(readFileSync(planFile, 'utf8'));
  assert.equal(plan.faults.length, 106);
  const lines = shown.stdout.trim().split('\n');
  assert.deepEqual(lines[0]!.split(/\s+/), ['tensor', 'index', 'bit', 'before', 'after']);
  assert.equal(lines.length, 2 + 106 + 1);
  assert.match(lines.at(-1)!, /^106 faults: BER 0\.001, trial 4, seed 0, float32, count reference, policy ieee, surface [0-9a-f]{12}$/);
  const f = plan.faults[17]!;
  assert.deepEqual(lines[2 + 17]!.trim().split(/\s+/), [f.tensor, String(f.index), String(f.bit), String(f.before), String(f.after)]);

  const replay = runCli(['faults', 'replay', '--model', model, '--plan', planFile, '--data', 'mnist', '--eval-limit', '100']);
  assert.equal(replay.code, 0, replay.stderr);
  assert.match(replay.stdout, /^accuracy\s+\d+\.\d\d%$/m);
  assert.match(replay.stdout, /^SDC\s+\d+\.\d\d%$/m);
  assert.match(replay.stdout, /^DUE\s+\d+\.\d\d%$/m);
  assert.match(replay.stdout, /^logits\s+sha256 [0-9a-f]{64}$/m);
});

function writePlan(name: string, text: string): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, text);
  return path;
}

/** A model with another fault surface: one linear layer. */
function otherModel(): string {
  const g = new Graph();
  g.inputs = [{ name: 'input', dtype: 'float32', dims: [-1, 1, 28, 28] }];
  const w = g.addConstant('fc.weight', f32([10, 784], Array.from({ length: 7840 }, (_, i) => ((i * 37) % 11) / 100 - 0.05)));
  const [flat] = g.add('Flatten', ['input'], { axis: int(1) });
  g.add('Gemm', [flat!, w], { transB: int(1) }, { outputs: ['logits'] });
  g.outputs = [{ name: 'logits', dtype: 'float32', dims: [-1, 10] }];
  const path = join(dir, 'other.onnx');
  writeFileSync(path, writeOnnx(g));
  return path;
}

test('faults show/replay: bad input is a one-line error with exit code 2', () => {
  const show = (...extra: string[]) => runCli(['faults', 'show', '--model', model, '--trial', '0', ...extra]);
  for (const ber of ['0', '1']) expectUserError(show('--ber', ber), new RegExp(`BER ${ber} is outside \\(0, 1\\)`));
  expectUserError(show(), /--ber <b> is required/);
  expectUserError(show('--ber', '1e-3', '--format', 'fp64'), /unknown number format 'fp64'/);
  expectUserError(show('--ber', '1e-3', '--format', 'q20.20'), /'q20\.20' needs 41 bits/);
  expectUserError(show('--ber', '1e-3', '--surface', 'weights'), /unknown kind 'weights'/);

  const planFile = writePlan('good', show('--ber', '1e-3', '--json').stdout);
  const replay = (m: string, plan: string, ...extra: string[]) => runCli(['faults', 'replay', '--model', m, '--plan', plan, '--data', 'mnist', '--eval-limit', '50', ...extra]);
  expectUserError(replay(otherModel(), planFile), /good\.json: the plan was made for another model .*other\.onnx/);
  // Same architecture, other weights: the surface hash matches, the clean values do not.
  expectUserError(replay(writeTinyCnn(join(dir, 'tiny-seed2.onnx'), 2), planFile), /good\.json: the plan expects .* at element \d+ of '[^']+' but .*tiny-seed2\.onnx holds/);
  expectUserError(replay(model, writePlan('notjson', '{"version": 1,')), /notjson\.json: fault plan JSON: not valid JSON/);
  expectUserError(replay(model, join(dir, 'nowhere.json')), /nowhere\.json: cannot read the plan file/);
  expectUserError(runCli(['faults', 'replay', '--model', model, '--plan', planFile]), /--data <dir> is required/);
});
