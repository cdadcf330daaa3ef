import { loadIdxDataset } from '../accuracy/idxDataset.js';
import { evaluateTop1, inputDimsFor, type Top1Result } from '../accuracy/top1.js';
import { CoreError } from '../api/errors.js';
import { createSession, ort } from '../run/ortSession.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { loadModel } from './models.js';

export interface EvalOptions {
  offset?: number;
  limit?: number;
  batchSize?: number;
  threads?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Top-1 of a stored model on a registered labelled dataset, run in onnxruntime-node; stored as a measurement. */
export async function evaluateModel(store: SqliteStore, modelRef: string, datasetName: string, o: EvalOptions = {}): Promise<Top1Result & { model: string; dataset: string }> {
  const { row } = loadModel(store, modelRef);
  const ds = store.requireDataset(datasetName);
  if (row.inputs.length !== 1) {
    throw new CoreError('model-input-count', `Model '${row.name}' takes ${row.inputs.length} inputs; top-1 evaluation needs a single image input.`);
  }
  const input = row.inputs[0];
  const sampleDims = inputDimsFor(input.dims, ds.shape, row.name, ds.name);
  if (o.offset !== undefined && !(o.offset >= 0)) throw new CoreError('eval-settings-invalid', `Offset ${o.offset} must be 0 or more.`);
  if (o.limit !== undefined && !(o.limit >= 1)) throw new CoreError('eval-settings-invalid', `Limit ${o.limit} must be 1 or more.`);
  const data = loadIdxDataset(ds.imagesPath, ds.labelsPath);
  const session = await createSession(store.modelContent(row.id), row.name, { optimization: 'all', threads: o.threads ?? 1 });
  try {
    const outName = session.outputNames[0];
    const result = await evaluateTop1(
      async (x, dims) => {
        const out = await session.run({ [input.name]: new ort.Tensor('float32', x, dims) });
        return out[outName].data as Float32Array;
      },
      data,
      sampleDims,
      o,
    );
    store.addMeasurement({
      modelId: row.id,
      deviceId: null,
      linkId: null,
      datasetId: ds.id,
      kind: 'top1',
      settings: { offset: o.offset ?? 0, limit: o.limit ?? null, runtime: 'onnxruntime-node', optimization: 'all' },
      result: { top1: result.top1, correct: result.correct, count: result.count },
    });
    return { ...result, model: row.name, dataset: ds.name };
  } finally {
    await session.release();
  }
}
