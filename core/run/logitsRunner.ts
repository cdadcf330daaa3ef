import { pixelBatch, type LabelledImages } from '../accuracy/idxDataset.js';
import { CoreError } from '../api/errors.js';
import { createSession, ort, type SessionSettings } from './ortSession.js';

export interface SliceOptions {
  offset: number;
  count: number;
  /** Per-sample input dims, e.g. [1, 28, 28]. */
  sampleDims: number[];
  batchSize?: number;
  settings?: SessionSettings;
  signal?: AbortSignal;
}

/**
 * Runs a single-input model over a slice of an image set ([0,1] pixels) and returns the first output for all
 * samples, row-major [count, classes]. Used wherever two models are compared on the same samples.
 */
export async function runLogits(bytes: Uint8Array, name: string, data: LabelledImages, o: SliceOptions): Promise<{ logits: Float32Array; classes: number; lastDim: number }> {
  const session = await createSession(bytes, name, { optimization: 'all', threads: 1, ...o.settings });
  try {
    const batch = o.batchSize ?? 500;
    let out: Float32Array | undefined;
    let classes = 0;
    let lastDim = 1;
    for (let start = 0; start < o.count; start += batch) {
      if (o.signal?.aborted) throw new CoreError('cancelled', 'The run was cancelled.');
      const n = Math.min(batch, o.count - start);
      const x = pixelBatch(data, o.offset + start, n);
      const r = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [n, ...o.sampleDims]) });
      const t = r[session.outputNames[0]];
      const y = t.data as Float32Array;
      classes = y.length / n;
      lastDim = t.dims.length > 1 ? Number(t.dims[t.dims.length - 1]) : classes;
      out ??= new Float32Array(o.count * classes);
      out.set(y, start * classes);
    }
    return { logits: out!, classes, lastDim };
  } finally {
    await session.release();
  }
}
