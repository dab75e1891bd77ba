/**
 * docs/claims.md: the memory rows come from the zoo layouts (exact counts, 10 and 100 classes), and
 * the claims table fills a row only from a measurement; without one it says "not measured yet".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { claimsTable, memoryRows, memoryTable, type ClaimsMeasurement } from '../../bench/claims.js';

const rows = memoryRows();

test('memory rows: AlexNet, VGG-16 and ResNet-50 for 10 and 100 classes, exact counts from the zoo', () => {
  const find = (model: string, classes: number, note = false) => rows.find((r) => r.model.startsWith(model) && r.classes === classes && !!r.note === note)!;
  for (const classes of [10, 100]) {
    assert.deepEqual([find('AlexNet', classes).neuron, find('AlexNet', classes).hyrelu, find('AlexNet', classes).layer], [66176, 4102, 7]);
    assert.deepEqual([find('VGG-16', classes).neuron, find('VGG-16', classes).hyrelu, find('VGG-16', classes).layer], [276480, 2060, 13]);
    const r50 = find('ResNet-50', classes);
    assert.deepEqual([r50.neuron, r50.hyrelu, r50.layer, r50.channel], [2940928, 32816, 49, 22720]);
    // Without the stem's ReLU (the reference's F.relu): method.md's ~88x.
    const noStem = find('ResNet-50', classes, true);
    assert.equal(noStem.neuron, 2940928 - 64 * 32 * 32);
    assert.equal(Math.round(noStem.neuron / noStem.hyrelu), 88);
  }
  const table = memoryTable(rows);
  assert.match(table, /\| VGG-16 \(CIFAR, config D\) \| 100 \| 13 \| 13 \| 2,060 \| 4,224 \| 276,480 \| \*\*134\.2x\*\* \|/);
  assert.equal(table.split('\n').length, 2 + rows.length);
});

test('claims table: six rows; the FT-ClipAct cost row only from a measurement', () => {
  const without = claimsTable(rows, undefined);
  const lines = without.split('\n').filter((l) => /^\| \d /.test(l));
  assert.equal(lines.length, 6);
  assert.match(lines[2]!, /not measured yet: run npm run bench -- claims/);
  assert.match(lines[1]!, /16\.1x to 134\.2x/);
  assert.match(lines[1]!, /holds within the paper's 10\.5x-134x/);
  const m: ClaimsMeasurement & { date: string; machine: { cpu: string; cores: number; loadAverage: number } } = {
    bench: 'claims',
    model: '../shared/models/resnet20.onnx',
    validation: 'test:5000-9999',
    ftclipact: { args: ['--fi-mode', 'paper'], seconds: 100, imagesProcessed: 50000, candidates: 76, layers: 19, trialsPerCandidate: 5 },
    proact: { args: [], seconds: 200, imagesProcessed: 400000, decisions: 30 },
    reference: { layers: 19, trials: 30400, images: 30400000, seconds: 60800 },
    date: '2026-12-06',
    machine: { cpu: 'cpu', cores: 2, loadAverage: 5 },
  };
  const filled = claimsTable(rows, m).split('\n').filter((l) => /^\| \d /.test(l));
  assert.match(filled[2]!, /100 s, 50,000 images/);
  assert.match(filled[2]!, /30,400,000 faulty forward passes, ~17 h/);
  assert.match(filled[2]!, /budget is 76\.0x the images of ProAct's default run \(~17 h against 3 min here\)/);
  assert.match(filled[2]!, /runs 0\.16% of those passes/);
});
