/** `proact harden` and `proact overhead`: bad input is one line on stderr and exit code 2. */
import { test } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectUserError, runCli } from '../helpers/cli.js';
import { writeTinyCnn } from '../helpers/tinymodel.js';

const dir = mkdtempSync(join(tmpdir(), 'proact-harden-cli-'));
const model = writeTinyCnn(join(dir, 'tiny.onnx'), 6);

test('harden and overhead: bad input is a one-line error with exit code 2', () => {
  const out = join(dir, 'x.onnx');
  const base = ['--data', 'mnist', '--out', out];
  expectUserError(runCli(['harden', '--method', 'clipall', '--model', model, ...base]), /unknown --method 'clipall'; use one of ranger, ranger-zero, ftclipact, fitact, proact/);
  expectUserError(runCli(['harden', '--model', model, ...base]), /--method is required/);
  expectUserError(runCli(['harden', '--method', 'ranger', '--model', join(dir, 'missing.onnx'), ...base]), /missing\.onnx: cannot read the model file/);
  expectUserError(runCli(['harden', '--method', 'ftclipact', '--granularity', 'neuron', '--model', model, ...base]), /--granularity applies to ranger, ranger-zero, fitact and proact/);
  expectUserError(runCli(['harden', '--method', 'proact', '--model', model, ...base, '--tolerance', '150']), /--tolerance 150: expected accuracy points in \[0, 100\)/);
  expectUserError(runCli(['harden', '--method', 'ranger', '--model', model, ...base, '--validation', '70000']), /cannot hold out 70000 validation records/);

  const bad = join(dir, 'bad.thresholds.json');
  writeFileSync(bad, '{"format": "proact-thresholds", "version": 1, "method": "ranger", "layers": [{"layer": 0, "node": "x", "kind": "clip-sat", "granularity": "layer", "dims": [], "values": [-1]}]}');
  expectUserError(runCli(['harden', '--thresholds', bad, '--model', model, ...base]), /bad\.thresholds\.json: layers\[0\]\.values\[0\] = -1: thresholds must be finite float32 numbers >= 0/);
  writeFileSync(bad, '{"format": "proact-thresholds", "version": 1,');
  expectUserError(runCli(['harden', '--thresholds', bad, '--model', model, ...base]), /bad\.thresholds\.json: not valid JSON/);
  writeFileSync(bad, '{"format": "proact-thresholds", "version": 1, "method": "ranger", "layers": [{"layer": 0, "node": "x", "kind": "clip-sat", "granularity": "layer", "dims": [], "values": [1]}]}');
  expectUserError(runCli(['harden', '--thresholds', bad, '--model', model, ...base]), /layer 0 is node '.*' in the model, not 'x'; these thresholds belong to another model/);
  expectUserError(runCli(['harden', '--method', 'ranger', '--thresholds', bad, '--model', model, ...base]), /either --method or --thresholds, not both/);

  expectUserError(runCli(['overhead', '--model', join(dir, 'missing.onnx')]), /missing\.onnx: cannot read the model file/);
});
