import { CoreError } from '../api/errors.js';
import { pixelBatch, type LabelledImages } from './idxDataset.js';

/** Runs a batch of float inputs (NCHW, [0,1] pixels) and returns the logits, row-major [batch, classes]. */
export type BatchInfer = (input: Float32Array, dims: number[]) => Promise<Float32Array>;

export interface Top1Result {
  correct: number;
  count: number;
  top1: number;
  /** The predicted class per sample, so callers can compare models sample by sample. */
  predictions: Uint8Array;
}

/**
 * Model input dims [batch, ...rest] accept a dataset whose sample shape equals rest, or rest without a leading 1
 * (a 28x28 image feeds a [N,1,28,28] model). Symbolic dims match anything.
 */
export function inputDimsFor(modelDims: (number | string)[], sampleShape: number[], modelName: string, datasetName: string): number[] {
  const rest = modelDims.slice(1);
  const fits = (a: (number | string)[]): boolean =>
    a.length === sampleShape.length && a.every((d, i) => typeof d === 'string' || d <= 0 || d === sampleShape[i]);
  if (fits(rest)) return [...sampleShape];
  if (rest.length === sampleShape.length + 1 && (rest[0] === 1 || typeof rest[0] === 'string') && fits(rest.slice(1))) {
    return [1, ...sampleShape];
  }
  throw new CoreError(
    'dataset-shape-mismatch',
    `Dataset '${datasetName}' has samples of shape [${sampleShape.join(', ')}] but model '${modelName}' takes [${modelDims.join(', ')}]. Evaluate it on a dataset whose images match the model's input.`,
  );
}

/** Top-1 accuracy in batches; pixels scale to [0,1] (the zoo's input convention). */
export async function evaluateTop1(
  infer: BatchInfer,
  data: LabelledImages,
  sampleDims: number[],
  opts: { offset?: number; limit?: number; batchSize?: number; onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {},
): Promise<Top1Result> {
  if (!data.labels) throw new CoreError('dataset-unlabelled', 'This dataset has no labels, so top-1 cannot be measured. Add it with --labels.');
  const offset = opts.offset ?? 0;
  const count = Math.min(opts.limit ?? data.count, data.count - offset);
  if (count <= 0) throw new CoreError('dataset-empty', `No samples to evaluate (offset ${offset}, ${data.count} samples). Lower --offset or --limit.`);
  const batchSize = opts.batchSize ?? 256;
  const predictions = new Uint8Array(count);
  let correct = 0;
  for (let start = 0; start < count; start += batchSize) {
    if (opts.signal?.aborted) throw new CoreError('cancelled', 'Evaluation was cancelled.');
    const b = Math.min(batchSize, count - start);
    const input = pixelBatch(data, offset + start, b);
    const logits = await infer(input, [b, ...sampleDims]);
    const classes = logits.length / b;
    for (let i = 0; i < b; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (logits[i * classes + k] > logits[i * classes + best]) best = k;
      predictions[start + i] = best;
      if (best === data.labels[offset + start + i]) correct++;
    }
    opts.onProgress?.(start + b, count);
  }
  return { correct, count, top1: correct / count, predictions };
}

/** Top-1 of precomputed logits [count, classes] against labels[offset .. offset + count). */
export function top1OfLogits(logits: Float32Array, labels: Uint8Array, offset: number, classes: number): number {
  const count = logits.length / classes;
  let correct = 0;
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[i * classes + k] > logits[i * classes + best]) best = k;
    if (best === labels[offset + i]) correct++;
  }
  return correct / count;
}
