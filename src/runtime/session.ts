/**
 * onnxruntime-node sessions over IR graphs: the one compute engine of proact. A Session wraps an
 * InferenceSession created from serialised ONNX bytes with explicit thread options (the defaults of
 * onnxruntime oversubscribe small machines), and runs float32 batches.
 */
import ort from './ort.js';
import { ProactError } from '../util/errors.js';
import { writeOnnx, type Graph } from '../graph/index.js';

export interface SessionOptions {
  /** Threads inside one operator (default 1: proact parallelises across worker threads or batches). */
  threads?: number;
  /** Graph optimisation level of onnxruntime (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Names the model in errors (its file, or what it is, e.g. 'the hardened model'). */
  name?: string;
  /**
   * Keep a memory arena that grows to the largest run and is never given back (onnxruntime's default,
   * true). Off for the many sessions of a model run in segments, which would each hold one.
   */
  arena?: boolean;
}

/** What the user can do about a failed onnxruntime run. */
const RUN_FIX = 'check that the model takes float32 NCHW images of the data\'s shape (proact eval shows its inputs), or lower --batch / --workers if memory ran out';

export type Feeds = Record<string, { data: Float32Array | BigInt64Array | Int32Array | Uint8Array; dims: readonly number[] }>;

export class Session {
  private constructor(
    readonly inner: ort.InferenceSession,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    /** Names the model in errors. */
    readonly name: string,
  ) {}

  /** Creates a session from an IR graph or serialised ONNX bytes. */
  static async create(model: Graph | Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    const bytes = model instanceof Uint8Array ? model : writeOnnx(model);
    const name = opts.name ?? 'the model';
    let inner: ort.InferenceSession;
    try {
      inner = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: opts.threads ?? 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: opts.optimization ?? 'all',
        enableCpuMemArena: opts.arena ?? true,
        // Errors only: onnxruntime's warnings (shape merges, unused initializers) are raw multi-line,
        // colour-coded text on stderr that proact's one-line messages replace.
        logSeverityLevel: 3,
      });
    } catch (e) {
      const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
      throw new ProactError(`${name}: onnxruntime rejected the model while loading it: ${why}; ${RUN_FIX}`);
    }
    return new Session(inner, inner.inputNames, inner.outputNames, name);
  }

  /** Runs the session; returns every output as a Float32Array (or the typed array onnxruntime gives). */
  async run(feeds: Feeds, outputs?: readonly string[], stage = 'running the model'): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) {
      const type = f.data instanceof Float32Array ? 'float32' : f.data instanceof BigInt64Array ? 'int64' : f.data instanceof Int32Array ? 'int32' : 'uint8';
      ortFeeds[name] = new ort.Tensor(type, f.data, f.dims);
    }
    let res: ort.InferenceSession.ReturnType;
    try {
      res = outputs ? await this.inner.run(ortFeeds, outputs as string[]) : await this.inner.run(ortFeeds);
    } catch (e) {
      // Every failure inside onnxruntime (shape mismatch, unsupported type, allocation) is named with the model and the stage.
      const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
      throw new ProactError(`${this.name}: onnxruntime failed while ${stage}: ${why}; ${RUN_FIX}`, { cause: e });
    }
    const out: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
    for (const [k, t] of Object.entries(res)) out[k] = { data: t.data as Float32Array, dims: t.dims };
    return out;
  }

  async release(): Promise<void> {
    await this.inner.release();
  }
}
