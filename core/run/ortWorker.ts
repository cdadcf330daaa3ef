import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { CoreError } from '../api/errors.js';
import type { SessionSettings } from './ortSession.js';
import type { FrameTensor } from './tensorFrame.js';

/**
 * An ONNX Runtime session on its own thread. onnxruntime-node runs inference synchronously on the calling thread,
 * so two sessions on the main thread can never compute at the same time and a running model stalls every timer.
 * The local runner gives the device and the server one worker each: their compute overlaps for real in a
 * pipeline, and the link emulator's timers keep firing on the main thread meanwhile.
 *
 * The worker is plain JavaScript (no TypeScript loader in a worker), loading onnxruntime-node by absolute path.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const ort = require(workerData.ortPath);
let session;
parentPort.on('message', async (m) => {
  try {
    if (m.type === 'load') {
      session = await ort.InferenceSession.create(m.bytes, {
        graphOptimizationLevel: m.optimization, intraOpNumThreads: m.threads, interOpNumThreads: 1,
        executionMode: 'sequential', logSeverityLevel: 3,
      });
      parentPort.postMessage({ id: m.id, inputNames: session.inputNames, outputNames: session.outputNames });
    } else if (m.type === 'run') {
      const feeds = {};
      for (const t of m.feeds) feeds[t.name] = new ort.Tensor(t.dtype, t.data, t.dims);
      const t0 = performance.now();
      const out = await session.run(feeds);
      const ms = performance.now() - t0;
      const outputs = [];
      const transfer = [];
      for (const name of session.outputNames) {
        const y = out[name];
        const data = y.data.slice();
        outputs.push({ name, dtype: y.type, dims: [...y.dims], data });
        transfer.push(data.buffer);
        y.dispose();
      }
      parentPort.postMessage({ id: m.id, outputs, ms }, transfer);
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.message) || e).split('\\n')[0].slice(0, 300) });
  }
});
`;

interface Reply {
  id: number;
  error?: string;
  inputNames?: string[];
  outputNames?: string[];
  outputs?: FrameTensor[];
  ms?: number;
}

export class WorkerSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  inputNames: string[] = [];
  outputNames: string[] = [];

  private constructor(private readonly worker: Worker) {
    worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      p?.resolve(r);
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', () => this.failAll(new Error('the ONNX Runtime worker exited')));
  }

  /** Loads a model in a new worker; a model ONNX Runtime refuses gives CoreError('model-runtime-rejected'). */
  static async create(bytes: Uint8Array, name: string, s: SessionSettings = {}): Promise<WorkerSession> {
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    const w = new WorkerSession(new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath } }));
    const r = await w.call({ type: 'load', bytes, optimization: s.optimization ?? 'all', threads: s.threads ?? 1 });
    if (r.error) {
      await w.release();
      throw new CoreError('model-runtime-rejected', `ONNX Runtime cannot load model '${name}' (${r.error}). Check that every operator and opset is supported, or export the model again.`);
    }
    w.inputNames = r.inputNames!;
    w.outputNames = r.outputNames!;
    return w;
  }

  /** Runs the model; `ms` is the compute time measured inside the worker. */
  async run(feeds: readonly FrameTensor[]): Promise<{ outputs: FrameTensor[]; ms: number }> {
    const r = await this.call({ type: 'run', feeds: feeds.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims, data: t.data })) });
    if (r.error) throw new CoreError('model-run-failed', `The model failed to run (${r.error}). Check the inputs' names, types and shapes.`);
    return { outputs: r.outputs!, ms: r.ms! };
  }

  async release(): Promise<void> {
    await this.worker.terminate();
  }

  private call(msg: Record<string, unknown>): Promise<Reply> {
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}
