import { readFileSync } from 'node:fs';
import { klDivergence, sqnrDb, top1Agreement } from '../accuracy/fidelity.js';
import { loadIdxDataset } from '../accuracy/idxDataset.js';
import { inputDimsFor } from '../accuracy/top1.js';
import { CoreError } from '../api/errors.js';
import { decodeModel, encodeModel } from '../onnx/modelCodec.js';
import { runLogits } from '../run/logitsRunner.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { loadModel } from './models.js';

export interface FidelityResult {
  model: string;
  quantized: string;
  dataset: string;
  samples: number;
  /** Share of decisions (argmax over the first output's last axis) equal to FP32's. */
  agreement: number;
  /** Mean KL(softmax FP32 || softmax quantized) per decision, nats. */
  klNats: number;
  /** SQNR of the quantized first output against FP32's, dB. */
  sqnrDb: number;
}

/**
 * How faithful a quantized copy (any ONNX file, e.g. from `partita quantize`) is to its FP32 model on a dataset,
 * with no labels needed: agreement, KL and SQNR of the first output (shared/SCIENCE.md's fidelity measures).
 */
export async function measureFidelity(store: SqliteStore, ref: string, quantizedPath: string, dataset: string, o: { samples?: number; offset?: number; onProgress?: (d: number, t: number) => void } = {}): Promise<FidelityResult> {
  const m = loadModel(store, ref);
  let qBytes: Uint8Array;
  try {
    qBytes = readFileSync(quantizedPath);
  } catch (e) {
    throw new CoreError('model-file-missing', `Cannot read '${quantizedPath}' (${(e as Error).message}). Give the path of a quantized ONNX file.`);
  }
  decodeModel(qBytes, quantizedPath);
  const ds = store.requireDataset(dataset);
  const sampleDims = inputDimsFor(m.row.inputs[0].dims, ds.shape, m.row.name, ds.name);
  const data = loadIdxDataset(ds.imagesPath, ds.labelsPath);
  const offset = o.offset ?? 0;
  const samples = Math.min(o.samples ?? data.count - offset, data.count - offset);
  if (!(samples >= 1)) throw new CoreError('dataset-empty', `No samples from ${offset} in '${ds.name}' (${data.count} samples). Use a smaller --offset.`);
  const slice = { offset, count: samples, sampleDims };
  o.onProgress?.(0, 2);
  const ref32 = await runLogits(encodeModel(m.proto), m.row.name, data, slice);
  o.onProgress?.(1, 2);
  const q = await runLogits(qBytes, quantizedPath, data, slice);
  o.onProgress?.(2, 2);
  if (q.logits.length !== ref32.logits.length) {
    throw new CoreError('fidelity-shape-mismatch', `'${quantizedPath}' gives ${q.classes} values per sample, '${m.row.name}' ${ref32.classes}. Compare a model with its own quantized copy.`);
  }
  return {
    model: m.row.name,
    quantized: quantizedPath,
    dataset: ds.name,
    samples,
    agreement: top1Agreement(ref32.logits, q.logits, ref32.lastDim),
    klNats: klDivergence(ref32.logits, q.logits, ref32.lastDim),
    sqnrDb: sqnrDb(ref32.logits, q.logits),
  };
}
