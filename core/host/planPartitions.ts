import { CoreError } from '../api/errors.js';
import type { Plan } from '../api/planning.js';
import { loadIdxDataset } from '../accuracy/idxDataset.js';
import { inputDimsFor } from '../accuracy/top1.js';
import { calibrateRanges } from '../run/calibrate.js';
import { buildPartitions, partitionRangeTensors, type PartitionFormat, type Partitions } from '../run/partitionBuilder.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { loadModel, type LoadedModel } from './models.js';
import { profileModel } from './profiling.js';

export interface PartitionRequest {
  format?: PartitionFormat;
  /** Dataset for activation ranges when the link or an INT8 head needs them (its last `calibSamples` samples). */
  calib?: string;
  calibSamples?: number;
  inputShape?: Record<string, number[]>;
}

/**
 * Head and tail of a plan for a stored model, calibrated when the plan quantizes activations (link codes or an INT8
 * head): the one place export and runs build partitions, so what is exported is what is run.
 */
export async function preparePartitions(
  store: SqliteStore,
  ref: string | number,
  plan: Pick<Plan, 'cut' | 'bits' | 'activationBits'>,
  o: PartitionRequest = {},
): Promise<{ m: LoadedModel; parts: Partitions; sampleDims: number[] }> {
  const m = loadModel(store, ref);
  const L = m.graph.layers.length;
  if (!Number.isInteger(plan.cut) || plan.cut < 0 || plan.cut > L || plan.bits.length !== plan.cut) {
    throw new CoreError('plan-invalid', `The plan (cut ${plan.cut}, ${plan.bits.length} layer widths) does not fit '${m.row.name}' with ${L} layers. Plan this model again.`);
  }
  const prof = (await profileModel(store, m.row.id, { inputShape: o.inputShape })).static;
  const shapes = new Map(prof.tensors.map((t) => [t.name, { dataType: t.dataType, dims: t.dims }]));
  const format = o.format ?? 'simulation';
  const inputDims = shapes.get(m.graph.inputs[0])?.dims ?? [];
  const sampleDims = inputDims.slice(1);
  const needRanges = partitionRangeTensors(m.proto, m.graph, plan, format, shapes);
  let ranges: Record<string, { min: number; max: number }> = {};
  if (needRanges.length > 0) {
    if (!o.calib) {
      throw new CoreError('quant-not-calibrated', `This plan quantizes ${needRanges.length} tensor(s) on the link or in an INT8 head, which needs activation ranges. Give a calibration dataset: --calib DATASET on the command line, "calib" through the API (the workbench's export offers a choice).`);
    }
    const ds = store.requireDataset(o.calib);
    const dims = inputDimsFor(m.row.inputs[0].dims, ds.shape, m.row.name, ds.name);
    const samples = Math.min(o.calibSamples ?? 500, ds.count);
    ranges = await calibrateRanges(m.proto, m.graph, m.row.name, needRanges, loadIdxDataset(ds.imagesPath, ds.labelsPath), dims, {
      method: 'minmax',
      bits: 8,
      offset: ds.count - samples,
      samples,
    });
  }
  return { m, parts: buildPartitions(m.proto, m.graph, plan, { format, ranges }, shapes), sampleDims };
}
