import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readOnnxFile, writeOnnx, readOnnx, prepareGraph } from '../../src/graph/index.js';
import { Session, evaluate } from '../../src/runtime/index.js';
import { openDataset } from '../../src/data/index.js';
import { sharedFile } from '../helpers/shared.js';

// resnet20 is covered through the CLI in test/cli/eval.test.ts.
for (const name of ['resnet20-bn', 'resnet20-akamaster', 'resnet56-akamaster', 'alexnet-cifar']) {
  test(`${name}: accuracy on the whole test set after fold + export + re-import equals its .json`, async (t) => {
    const model = sharedFile(t, `models/${name}.onnx`);
    const data = sharedFile(t, 'data/cifar10-jpeg75/test_batch.bin');
    if (!model || !data) return;
    const expected = (JSON.parse(readFileSync(model.replace(/\.onnx$/, '.json'), 'utf8')) as { test_accuracy: number }).test_accuracy;
    const g = readOnnx(writeOnnx(prepareGraph(readOnnxFile(model))));
    const session = await Session.create(g, { threads: 2 });
    const r = await evaluate(session, openDataset(data, { split: 'test' }), { batchSize: 250 });
    await session.release();
    assert.equal(r.count, 10000);
    assert.equal(r.accuracy, expected);
  });
}
