import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CoreError } from '../api/errors.js';
import type { ModelGraph } from '../onnx/graph.js';
import type { onnx } from '../onnx/generated/onnxProto.js';
import { encodeModel } from '../onnx/modelCodec.js';
import { declaredValues, withLayerNames } from '../onnx/modelEdit.js';
import { median, quantile } from '../util/stats.js';
import { createSession, ort, seededTensor } from './ortSession.js';

export interface LatencySettings {
  runs: number;
  warmup: number;
  threads: number;
  inputDims: Record<string, number[]>;
}

export interface LayerLatency {
  position: number;
  name: string;
  medianMs: number;
  p90Ms: number;
}

export interface LatencyProfile {
  layers: LayerLatency[];
  /** Sum over layers of each layer's median. */
  sumOfLayerMediansMs: number;
  /** Median of whole-model runs in a session without profiling (what a user of the model sees). */
  wholeModelMedianMs: number;
  /** Median of the profiler's own per-run totals ('model_run'), which include its overhead. */
  profiledRunMedianMs: number;
  ratio: number;
}

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
}

/**
 * Per-node latency on this host from ONNX Runtime's profiler. The graph is left unoptimised so each profiler
 * event maps to exactly one node of the file; medians are taken over `runs` runs after `warmup` runs.
 */
export async function profileLatency(
  model: onnx.IModelProto,
  graph: ModelGraph,
  modelName: string,
  s: LatencySettings,
  onProgress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<LatencyProfile> {
  const bytes = encodeModel(withLayerNames(model, graph));
  const feeds: Record<string, ort.Tensor> = {};
  declaredValues(model, graph.inputs).forEach((v, i) => (feeds[v.name] = seededTensor(v.dataType, s.inputDims[v.name], i + 1)));
  const total = 2 * (s.warmup + s.runs);
  let done = 0;
  const step = (): void => {
    if (signal?.aborted) throw new CoreError('cancelled', 'Latency profiling was cancelled.');
    onProgress?.(++done, total);
  };

  // Whole-model timing first, in a plain session: the profiler's own bookkeeping would inflate it.
  const plain = await createSession(bytes, modelName, { optimization: 'disabled', threads: s.threads });
  const wholeMs: number[] = [];
  try {
    for (let i = 0; i < s.warmup + s.runs; i++) {
      const t0 = performance.now();
      await plain.run(feeds);
      const dt = performance.now() - t0;
      if (i >= s.warmup) wholeMs.push(dt);
      step();
    }
  } finally {
    await plain.release();
  }

  const dir = mkdtempSync(join(tmpdir(), 'partita-prof-'));
  try {
    const session = await createSession(bytes, modelName, {
      optimization: 'disabled',
      threads: s.threads,
      enableProfiling: true,
      profileFilePrefix: join(dir, 'ort'),
    });
    try {
      for (let i = 0; i < s.warmup + s.runs; i++) {
        await session.run(feeds);
        step();
      }
      session.endProfiling();
    } finally {
      await session.release();
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('ONNX Runtime wrote no profile file');
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as TraceEvent[];
    const perNode = new Map<string, number[]>();
    const runTotals: number[] = [];
    for (const e of events) {
      if (e.cat === 'Node' && e.name?.endsWith('_kernel_time')) {
        const node = e.name.slice(0, -'_kernel_time'.length);
        let list = perNode.get(node);
        if (!list) perNode.set(node, (list = []));
        list.push((e.dur ?? 0) / 1000);
      } else if (e.cat === 'Session' && e.name === 'model_run') {
        runTotals.push((e.dur ?? 0) / 1000);
      }
    }
    const layers = graph.layers.map((l) => {
      // The first `warmup` events of each node belong to the warm-up runs.
      const d = (perNode.get(l.name) ?? []).slice(s.warmup);
      return { position: l.position, name: l.name, medianMs: d.length ? median(d) : 0, p90Ms: d.length ? quantile(d, 0.9) : 0 };
    });
    const sum = layers.reduce((a, l) => a + l.medianMs, 0);
    const whole = median(wholeMs);
    return {
      layers,
      sumOfLayerMediansMs: sum,
      wholeModelMedianMs: whole,
      profiledRunMedianMs: median(runTotals.slice(s.warmup)),
      ratio: sum / whole,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
