import { CoreError } from '../api/errors.js';
import { pixelBatch, type LabelledImages } from '../accuracy/idxDataset.js';
import type { ModelGraph } from '../onnx/graph.js';
import type { onnx } from '../onnx/generated/onnxProto.js';
import { encodeModel } from '../onnx/modelCodec.js';
import { withExtraOutputs } from '../onnx/modelEdit.js';
import { MinMaxObserver, MseObserver, PercentileObserver, type RangeObserver } from '../quant/calibration.js';
import type { CalibrationMethod } from '../quant/quantConfig.js';
import { createSession, ort } from './ortSession.js';

export interface CalibrationOptions {
  method: CalibrationMethod;
  /** Bits the ranges are meant for (the MSE observer's choice depends on it). */
  bits: number;
  offset: number;
  samples: number;
  batchSize?: number;
  percentile?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * Activation ranges for `tensors`, streamed: the model runs batch by batch with those tensors exposed as outputs,
 * each batch's values go into a fixed-size observer and are dropped, so memory does not grow with the number of
 * calibration samples.
 */
export async function calibrateRanges(
  model: onnx.IModelProto,
  graph: ModelGraph,
  modelName: string,
  tensors: readonly string[],
  data: LabelledImages,
  sampleDims: number[],
  o: CalibrationOptions,
): Promise<Record<string, { min: number; max: number }>> {
  if (o.samples < 1) throw new CoreError('calibration-empty', 'The calibration set is empty. Give at least one sample (--calib-samples).');
  if (o.offset + o.samples > data.count) {
    throw new CoreError('calibration-too-large', `Calibration asks for samples ${o.offset}..${o.offset + o.samples} but the dataset has ${data.count}. Use fewer samples or a smaller offset.`);
  }
  if (graph.inputs.length !== 1) throw new CoreError('model-input-count', `Model '${modelName}' takes ${graph.inputs.length} inputs; calibration needs a single image input.`);
  const all = [...new Set(tensors)];
  const inputName = graph.inputs[0];
  // The graph input is observed from the fed batch; everything else comes back as an extra output.
  const wanted = all.filter((t) => t !== inputName);
  const session = await createSession(encodeModel(withExtraOutputs(model, wanted)), modelName, { optimization: 'disabled', threads: 1 });
  const observers = new Map<string, RangeObserver>(
    all.map((t) => [t, o.method === 'minmax' ? new MinMaxObserver() : o.method === 'percentile' ? new PercentileObserver(o.percentile ?? 99.99) : new MseObserver()]),
  );
  const batch = o.batchSize ?? 64;
  try {
    for (let start = 0; start < o.samples; start += batch) {
      if (o.signal?.aborted) throw new CoreError('cancelled', 'Calibration was cancelled.');
      const n = Math.min(batch, o.samples - start);
      const x = pixelBatch(data, o.offset + start, n);
      if (observers.has(inputName)) observers.get(inputName)!.observe(x);
      const out = wanted.length ? await session.run({ [inputName]: new ort.Tensor('float32', x, [n, ...sampleDims]) }, wanted) : {};
      for (const t of wanted) {
        observers.get(t)!.observe(out[t].data as Float32Array);
        out[t].dispose();
      }
      o.onProgress?.(start + n, o.samples);
    }
  } finally {
    await session.release();
  }
  return Object.fromEntries([...observers].map(([t, obs]) => [t, obs.range(o.bits)]));
}
