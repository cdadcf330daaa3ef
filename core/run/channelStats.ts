import { pixelBatch, type LabelledImages } from '../accuracy/idxDataset.js';
import { CoreError } from '../api/errors.js';
import type { ModelGraph } from '../onnx/graph.js';
import type { onnx } from '../onnx/generated/onnxProto.js';
import { encodeModel } from '../onnx/modelCodec.js';
import { withExtraOutputs } from '../onnx/modelEdit.js';
import { ChannelStatsObserver } from '../quant/flexiq.js';
import { createSession, ort } from './ortSession.js';

export interface ChannelCalibration {
  /** Per activation tensor: streaming per-channel max|x| and E[x^2] (last axis = channel). */
  stats: Map<string, ChannelStatsObserver>;
  /** The FP32 model's first output on the same samples, row-major [samples, classes]: the reference a search scores against. */
  logits: Float32Array;
  classes: number;
}

/**
 * Per-input-channel activation statistics for FlexiQ, streamed: the FP32 model runs batch by batch with the
 * activations exposed as outputs; each batch updates O(K) state per tensor and is dropped.
 */
export async function calibrateChannelStats(
  model: onnx.IModelProto,
  graph: ModelGraph,
  modelName: string,
  tensors: ReadonlyMap<string, number>,
  data: LabelledImages,
  sampleDims: number[],
  o: { offset: number; samples: number; batchSize?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void },
): Promise<ChannelCalibration> {
  if (o.samples < 1) throw new CoreError('calibration-empty', 'The calibration set is empty. Give at least one sample.');
  if (o.offset < 0 || o.offset + o.samples > data.count) {
    throw new CoreError('calibration-too-large', `Calibration asks for samples ${o.offset}..${o.offset + o.samples} but the dataset has ${data.count}. Use fewer samples.`);
  }
  if (graph.inputs.length !== 1) throw new CoreError('model-input-count', `Model '${modelName}' takes ${graph.inputs.length} inputs; FlexiQ calibration needs a single image input.`);
  const inputName = graph.inputs[0];
  const outName = graph.outputs[0];
  const wanted = [...tensors.keys()].filter((t) => t !== inputName && t !== outName);
  const stats = new Map([...tensors].map(([t, k]) => [t, new ChannelStatsObserver(k)]));
  const session = await createSession(encodeModel(withExtraOutputs(model, wanted)), modelName, { optimization: 'disabled', threads: 1 });
  const batch = o.batchSize ?? 250;
  let logits: Float32Array | undefined;
  let classes = 0;
  try {
    for (let start = 0; start < o.samples; start += batch) {
      if (o.signal?.aborted) throw new CoreError('cancelled', 'Calibration was cancelled.');
      const n = Math.min(batch, o.samples - start);
      const x = pixelBatch(data, o.offset + start, n);
      stats.get(inputName)?.observe(x);
      const out = await session.run({ [inputName]: new ort.Tensor('float32', x, [n, ...sampleDims]) }, [outName, ...wanted]);
      for (const t of wanted) stats.get(t)!.observe(out[t].data as Float32Array);
      const y = out[outName].data as Float32Array;
      stats.get(outName)?.observe(y);
      classes = y.length / n;
      logits ??= new Float32Array(o.samples * classes);
      logits.set(y, start * classes);
      for (const t of Object.values(out)) t.dispose();
      o.onProgress?.(start + n, o.samples);
    }
  } finally {
    await session.release();
  }
  return { stats, logits: logits!, classes };
}
