import { CoreError } from '../api/errors.js';
import type { NoiseModel, SensitivityTable } from '../accuracy/degradation.js';
import { loadIdxDataset } from '../accuracy/idxDataset.js';
import { inputDimsFor } from '../accuracy/top1.js';
import { checkWeightBits } from '../quant/quantConfig.js';
import {
  measureNoiseModel,
  type DropMetric,
  measureSensitivity,
  randomConfigs,
  validateEstimators,
  type Slice,
  type ValidationReport,
  type WeightSettings,
} from '../run/sensitivityRunner.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { measureLinkSensitivity, type LinkSensitivity } from '../run/linkSensitivity.js';
import { settingsHash } from '../util/hash.js';
import { loadModel, type LoadedModel } from './models.js';

export interface SensitivityOptions {
  dataset: string;
  /** Calibration slice; default: the last `samples` of the dataset (the zoo's held-out train split). */
  offset?: number;
  samples?: number;
  bits?: number[];
  /** Link widths whose cost is measured at every cut (default [8, 4]; [] skips the link). */
  linkBits?: number[];
  weights?: Partial<WeightSettings>;
  onProgress?: (stage: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface EstimatorResult {
  model: string;
  dataset: string;
  settings: Record<string, unknown>;
  sensitivity: SensitivityTable & { fp32Top1: number; metric?: DropMetric; link?: LinkSensitivity };
  noise: NoiseModel;
  cached: { sensitivity: boolean; noise: boolean };
}

const DEFAULT_BITS = [8, 6, 5, 4, 3, 2];
const DEFAULT_LINK_BITS = [8, 4];

function checkActivationBits(b: number): number {
  if (!Number.isInteger(b) || b < 2 || b > 8) throw new CoreError('quant-bits-unsupported', `Link width ${b} is not supported. Give whole numbers from 2 to 8 (--link-bits 8,4).`);
  return b;
}

function calibrationSlice(store: SqliteStore, m: LoadedModel, dataset: string, offset: number | undefined, samples: number): Slice & { datasetId: number } {
  const ds = store.requireDataset(dataset);
  if (m.row.inputs.length !== 1) throw new CoreError('model-input-count', `Model '${m.row.name}' takes ${m.row.inputs.length} inputs; sensitivity needs one image input.`);
  const sampleDims = inputDimsFor(m.row.inputs[0].dims, ds.shape, m.row.name, ds.name);
  if (!(samples >= 1)) throw new CoreError('calibration-empty', 'The calibration set is empty. Give --samples of at least 1.');
  const start = offset ?? Math.max(0, ds.count - samples);
  if (start + samples > ds.count) throw new CoreError('calibration-too-large', `Samples ${start}..${start + samples} do not fit in the ${ds.count} of '${ds.name}'. Use fewer samples or a smaller offset.`);
  return { data: loadIdxDataset(ds.imagesPath, ds.labelsPath), offset: start, count: samples, sampleDims, datasetId: ds.id };
}

/**
 * Both degradation estimators for a model, measured on a calibration slice and cached in the store by model hash
 * + dataset + settings: the sensitivity table (layer x bits) and the noise model.
 */
export async function estimateDegradation(store: SqliteStore, ref: string, o: SensitivityOptions): Promise<EstimatorResult> {
  const m = loadModel(store, ref);
  const bits = (o.bits ?? DEFAULT_BITS).map((b) => checkWeightBits(b, '--bits'));
  const weights: WeightSettings = { symmetric: true, granularity: 'channel', clipping: 'none', ...o.weights };
  const samples = o.samples ?? 2000;
  const slice = calibrationSlice(store, m, o.dataset, o.offset, samples);
  const linkBits = (o.linkBits ?? DEFAULT_LINK_BITS).map((b) => checkActivationBits(b));
  const settings = { sha256: m.row.sha256, dataset: o.dataset, offset: slice.offset, samples, bits, weights, ...(linkBits.length ? { linkBits } : {}) };
  const hash = settingsHash(settings);

  let sensRun = store.findEstimatorRun(m.row.id, 'sensitivity', hash);
  const cached = { sensitivity: sensRun !== undefined, noise: false };
  if (!sensRun) {
    const mut = { name: m.row.name, proto: m.proto, graph: m.graph };
    const t: EstimatorResult['sensitivity'] = await measureSensitivity(mut, slice, bits, weights, {
      onProgress: (d, n) => o.onProgress?.('sensitivity', d, n),
      signal: o.signal,
    });
    if (linkBits.length) t.link = await measureLinkSensitivity(mut, slice, linkBits, { onProgress: (d, n) => o.onProgress?.('link', d, n), signal: o.signal });
    sensRun = store.saveEstimatorRun(
      { modelId: m.row.id, datasetId: slice.datasetId, kind: 'sensitivity', settingsHash: hash, settings, result: t },
      t.layers.flatMap((layer, i) => t.bits.map((b, j) => ({ layer, bits: b, drop: t.drop[i][j], kl: t.kl[i][j] }))),
    );
  }
  let noiseRun = store.findEstimatorRun(m.row.id, 'noise', hash);
  cached.noise = noiseRun !== undefined;
  if (!noiseRun) {
    const nm = await measureNoiseModel({ name: m.row.name, proto: m.proto, graph: m.graph }, slice, bits, weights, 1, {
      onProgress: (d, n) => o.onProgress?.('noise', d, n),
      signal: o.signal,
    });
    noiseRun = store.saveEstimatorRun({ modelId: m.row.id, datasetId: slice.datasetId, kind: 'noise', settingsHash: hash, settings, result: nm });
  }
  return {
    model: m.row.name,
    dataset: o.dataset,
    settings,
    sensitivity: sensRun.result as EstimatorResult['sensitivity'],
    noise: noiseRun.result as NoiseModel,
    cached,
  };
}

export interface ValidateOptions {
  /** Held-out evaluation dataset and slice (disjoint from calibration). */
  evalDataset: string;
  evalOffset?: number;
  evalSamples?: number;
  configs?: number;
  seed?: number;
}

/** Predicted vs measured degradation over random mixed configurations; the report is stored with the estimators. */
export async function validateDegradation(store: SqliteStore, ref: string, est: EstimatorResult, o: ValidateOptions, p: Pick<SensitivityOptions, 'onProgress' | 'signal'> = {}): Promise<ValidationReport> {
  const m = loadModel(store, ref);
  const ds = store.requireDataset(o.evalDataset);
  const evalSamples = o.evalSamples ?? ds.count;
  const slice = calibrationSlice(store, m, o.evalDataset, o.evalOffset ?? 0, evalSamples);
  const configs = randomConfigs(est.sensitivity.layers, est.sensitivity.bits, o.configs ?? 50, o.seed ?? 7);
  const report = await validateEstimators({ name: m.row.name, proto: m.proto, graph: m.graph }, slice, est.sensitivity, est.noise, configs, est.settings.weights as WeightSettings, {
    onProgress: (d, n) => p.onProgress?.('validation', d, n),
    signal: p.signal,
  });
  const settings = { ...est.settings, evalDataset: o.evalDataset, evalOffset: slice.offset, evalSamples, configs: configs.length, seed: o.seed ?? 7 };
  store.saveEstimatorRun({ modelId: m.row.id, datasetId: slice.datasetId, kind: 'validation', settingsHash: settingsHash(settings), settings, result: report });
  return report;
}
