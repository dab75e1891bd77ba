/** `proact eval`: top-1 accuracy and throughput of an ONNX classifier on a dataset, with a model summary. */
import type { Command } from 'commander';
import { openDataset, type Split } from '../data/index.js';
import { prepareGraph, readOnnxFile, summarizeGraph, unclippableActivations } from '../graph/index.js';
import { activationSites } from '../harden/index.js';
import { Session, checkModelContract, evaluate } from '../runtime/index.js';
import { ProactError, printable } from '../util/errors.js';
import { activationCounts, log, parseIntOption, progressBar, table } from './common.js';

export interface EvalCliOptions {
  model: string;
  data: string;
  split: Split;
  limit?: number;
  batch: number;
  threads: number;
  layers?: boolean;
  json?: boolean;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('top-1 accuracy and images/s of an ONNX classifier on a dataset, plus a summary of the model')
    .requiredOption('--model <file>', 'ONNX model (input NCHW float32 in [0,1])')
    .requiredOption('--data <dir>', "dataset directory or file (CIFAR .bin, MNIST IDX, .npy), or 'mnist' for the built-in MNIST")
    .option('--split <split>', 'train or test', 'test')
    .option('--limit <n>', 'evaluate only the first n records', parseIntOption('--limit', 1))
    .option('--batch <n>', 'batch size', parseIntOption('--batch', 1), 128)
    .option('--threads <n>', 'onnxruntime intra-op threads', parseIntOption('--threads', 1), 2)
    .option('--layers', 'also list the activation layers: node, function (relu, relu6, silu, ...), dims')
    .option('--json', 'print the result as JSON')
    .action(async (o: EvalCliOptions) => {
      if (o.split !== 'train' && o.split !== 'test') throw new ProactError(`--split ${String(o.split)}: expected train or test`);
      const graph = prepareGraph(readOnnxFile(o.model));
      const summary = summarizeGraph(graph);
      // A hardened model counts each clipped form once (not the Relu or SiLU nodes inside it).
      const layers = activationSites(graph).map((l, index) => ({ index, node: l.node, fn: l.activation, dims: l.dims }));
      const unclippable = unclippableActivations(graph);
      const ds = openDataset(o.data, { split: o.split });
      const session = await Session.create(graph, { threads: o.threads, name: o.model });
      if (checkModelContract(session, { imageShape: ds.shape, numClasses: ds.numClasses }).fixedBatch === 1)
        log(`note: ${o.model} has a fixed batch of 1; every image is run on its own (same results, slower)`);
      const total = Math.min(o.limit ?? ds.count, ds.count);
      const bar = o.json ? undefined : progressBar('eval', total);
      const r = await evaluate(session, ds, { batchSize: o.batch, ...(o.limit ? { limit: o.limit } : {}), onBatch: (d) => bar?.update(d) });
      bar?.stop();
      await session.release();
      const result = {
        model: o.model,
        data: ds.name,
        images: r.count,
        correct: r.correct,
        accuracy: r.accuracy,
        seconds: r.seconds,
        imagesPerSecond: r.count / r.seconds,
        threads: o.threads,
        batch: o.batch,
        summary,
        activations: layers.map((l) => ({ node: l.node, activation: l.fn, dims: l.dims })),
        unclippable,
      };
      if (o.json) {
        process.stdout.write(JSON.stringify(result) + '\n');
        return;
      }
      const ops = Object.entries(summary.ops).map(([k, v]) => `${k} x${v}`).join(', ');
      process.stdout.write(
        [
          `model      ${printable(o.model)}`,
          `ops        ${ops}`,
          `parameters ${summary.parameters.toLocaleString('en-US')}`,
          `activation layers ${layers.length} (${activationCounts(layers.map((l) => l.fn))})`,
          ...(unclippable.length ? [`unclippable ${unclippable.map((u) => `${printable(u.node)} (${u.op})`).join(', ')}`] : []),
          `data       ${printable(ds.name)} (${r.count} images)`,
          `accuracy   ${(r.accuracy * 100).toFixed(2)}% (${r.correct}/${r.count})`,
          `speed      ${(r.count / r.seconds).toFixed(0)} images/s (${o.threads} threads, batch ${o.batch})`,
        ].join('\n') + '\n',
      );
      if (o.layers) process.stdout.write('\n' + table(['layer', 'node', 'activation', 'dims'], layers.map((l) => [l.index, l.node, l.fn, l.dims.join('x')])) + '\n');
    });
}
