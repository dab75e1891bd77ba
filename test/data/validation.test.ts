/** `--validation`: N training images held out, a range of test or training records, or another file; the records never serve twice. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataset, parseValidationSpec, resolveValidation } from '../../src/data/index.js';
import { ProactError } from '../../src/util/errors.js';
import { expectUserError, runCli } from '../helpers/cli.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';
import type { HardenCliResult } from '../../src/cli/harden.js';

const train = openDataset('mnist', { split: 'train' });
const testSplit = openDataset('mnist', { split: 'test' });

test('parseValidationSpec: N, test:A-B, train:A-B, PATH[:A-B]; bad ranges are one-line errors', () => {
  assert.deepEqual(parseValidationSpec('1000'), { kind: 'holdout', count: 1000 });
  assert.deepEqual(parseValidationSpec('test:5000-9999'), { kind: 'records', source: 'test', first: 5000, last: 9999 });
  assert.deepEqual(parseValidationSpec('train:0-99'), { kind: 'records', source: 'train', first: 0, last: 99 });
  assert.deepEqual(parseValidationSpec('test'), { kind: 'records', source: 'test', first: 0, last: undefined });
  assert.deepEqual(parseValidationSpec('/d/test_batch.bin:10-19'), { kind: 'records', source: { path: '/d/test_batch.bin' }, first: 10, last: 19 });
  assert.throws(() => parseValidationSpec('test:9-5'), (e) => e instanceof ProactError && /range 9-5 is empty/.test(e.message));
  assert.throws(() => parseValidationSpec(':1-2'), (e) => e instanceof ProactError && /no source/.test(e.message));
});

test('test:5000-9999: validation is those test records; the test report keeps records 0-4999 only; training untouched', () => {
  const r = resolveValidation(parseValidationSpec('test:5000-9999'), 'test:5000-9999', train, testSplit, 0);
  assert.equal(r.validation.count, 5000);
  assert.deepEqual(Array.from(r.validation.read(0, 50).labels), Array.from(testSplit.read(5000, 50).labels));
  assert.deepEqual(Array.from(r.validation.read(4999, 1).x), Array.from(testSplit.read(9999, 1).x));
  assert.equal(r.test!.count, 5000);
  assert.deepEqual(Array.from(r.test!.read(0, 5000).labels), Array.from(testSplit.read(0, 5000).labels));
  assert.equal(r.train, train);
  assert.match(r.description, /test records 5000-9999 \(5000\); test report on the other 5000/);
  // A file path naming the test split's file is the test split: its records leave the report too.
  const again = resolveValidation(parseValidationSpec(`${testSplit.path}:5000-9999`), 'x', train, testSplit, 0);
  assert.equal(again.test!.count, 5000);
});

test('train:A-B removes those records from training; N holds out a seeded sample as before; out-of-range is an error', () => {
  const r = resolveValidation(parseValidationSpec('train:0-99'), 'train:0-99', train, testSplit, 0);
  assert.equal(r.validation.count, 100);
  assert.equal(r.train.count, train.count - 100);
  assert.deepEqual(Array.from(r.train.read(0, 1).x), Array.from(train.read(100, 1).x));
  assert.equal(r.test, testSplit);
  const h = resolveValidation(parseValidationSpec('200'), '200', train, testSplit, 3);
  assert.equal(h.validation.count, 200);
  assert.equal(h.train.count, train.count - 200);
  assert.throws(() => resolveValidation(parseValidationSpec('test:0-10000'), 'test:0-10000', train, testSplit, 0), (e) => e instanceof ProactError && /has 10000 records \(0-9999\)/.test(e.message));
  assert.throws(() => resolveValidation(parseValidationSpec('test:0-9'), 'test:0-9', train, undefined, 0), (e) => e instanceof ProactError && /has no test split/.test(e.message));
});

test('harden --validation test:9000-9999: decisions on those records, the test report on the other 9000', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proact-validation-'));
  const model = writeTinyCnn(join(dir, 'tiny.onnx'), 2);
  const r = runCli(['harden', '--method', 'ranger', '--model', model, '--data', 'mnist', '--out', join(dir, 'r.onnx'), '--profile-images', '200', '--validation', 'test:9000-9999', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as HardenCliResult;
  assert.equal(out.validationImages, 1000);
  assert.equal(out.testImages, 9000);
  assert.match(out.validationSource, /test records 9000-9999/);
  expectUserError(runCli(['harden', '--method', 'ranger', '--model', model, '--data', 'mnist', '--out', join(dir, 'x.onnx'), '--validation', 'test:5-2']), /--validation 'test:5-2': range 5-2 is empty/);
});
