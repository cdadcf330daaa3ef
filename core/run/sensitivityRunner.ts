import { fitSlope, predictByNoise, predictBySensitivity, predictNoise, type BitsByLayer, type NoiseModel, type SensitivityTable } from '../accuracy/degradation.js';
import { klDivergence, top1Agreement } from '../accuracy/fidelity.js';
import type { LabelledImages } from '../accuracy/idxDataset.js';
import { pearson, spearman } from '../accuracy/rankCorrelation.js';
import { top1OfLogits } from '../accuracy/top1.js';
import { CoreError } from '../api/errors.js';
import type { ModelGraph } from '../onnx/graph.js';
import type { onnx } from '../onnx/generated/onnxProto.js';
import { encodeModel, tensorToFloat32 } from '../onnx/modelCodec.js';
import { weightTensor } from '../onnx/modelEdit.js';
import { defaultQuantConfig, type LayerBits, type QuantConfig } from '../quant/quantConfig.js';
import { quantizableLayers } from '../quant/quantizableLayers.js';
import { weightSpec, writeSimulationModel, writeWithWeights } from '../quant/simulationWriter.js';
import { dequantizeWeights, quantizeWeights } from '../quant/weightQuant.js';
import { gaussian, mulberry32 } from '../util/random.js';
import { runLogits } from './logitsRunner.js';

export interface ModelUnderTest {
  name: string;
  proto: onnx.IModelProto;
  graph: ModelGraph;
}

export interface Slice {
  data: LabelledImages;
  offset: number;
  count: number;
  sampleDims: number[];
}

export interface Progress {
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Quantizer settings shared by every estimator run (granularity, symmetry, clipping); bits vary. */
export type WeightSettings = Pick<QuantConfig['weights'], 'symmetric' | 'granularity' | 'clipping' | 'blockSize'>;

function configFor(bits: BitsByLayer, w: WeightSettings): QuantConfig {
  const cfg = defaultQuantConfig(32);
  cfg.weights = { ...cfg.weights, ...w, default: 32, layers: bits as Record<string, LayerBits> };
  return cfg;
}

/** What a measured "drop" means: top-1 points lost (labelled data), or outputs that changed class (unlabelled). */
export type DropMetric = 'top1' | 'agreement';

/**
 * The drop of a model's outputs against the FP32 outputs `base` on the slice. With labels: FP32 top-1 minus top-1.
 * Without (PP-OCR ships no labelled set): 1 - top-1 agreement with FP32, over the rows of the output's last axis
 * (a classifier's classes, or each time step of a sequence model), so the budget reads "fraction of decisions
 * that change".
 */
export function dropScorer(s: Slice, base: { logits: Float32Array; classes: number; lastDim: number }): { metric: DropMetric; reference: number; drop: (q: { logits: Float32Array; classes: number }) => number } {
  const labels = s.data.labels;
  if (labels) {
    const reference = top1OfLogits(base.logits, labels, s.offset, base.classes);
    return { metric: 'top1', reference, drop: (q) => reference - top1OfLogits(q.logits, labels, s.offset, q.classes) };
  }
  if (base.lastDim < 2) {
    throw new CoreError('dataset-unlabelled', 'This model\'s first output has one value per row, so there is no class to agree on, and the dataset has no labels. Add labels with --labels.');
  }
  return { metric: 'agreement', reference: 1, drop: (q) => 1 - top1Agreement(base.logits, q.logits, base.lastDim) };
}

async function logitsOf(bytes: Uint8Array, m: ModelUnderTest, s: Slice, signal?: AbortSignal) {
  return runLogits(bytes, m.name, s.data, { offset: s.offset, count: s.count, sampleDims: s.sampleDims, signal });
}

/**
 * Estimator 1: for every quantizable layer and bit width, quantize only that layer's weights (simulation model)
 * and measure top-1 and KL against FP32 on the slice (a calibration split, disjoint from evaluation).
 */
export async function measureSensitivity(m: ModelUnderTest, s: Slice, bits: number[], w: WeightSettings, p: Progress = {}): Promise<SensitivityTable & { fp32Top1: number; metric: DropMetric }> {
  const layers = quantizableLayers(m.proto, m.graph);
  if (layers.length === 0) throw new CoreError('quant-no-layers', `Model '${m.name}' has no quantizable layer; there is nothing to measure.`);
  const base = await logitsOf(encodeModel(m.proto), m, s, p.signal);
  const score = dropScorer(s, base);
  const fp32Top1 = score.reference;
  const total = layers.length * bits.length;
  const drop: number[][] = [];
  const kl: number[][] = [];
  let done = 0;
  for (const l of layers) {
    const rowDrop: number[] = [];
    const rowKl: number[] = [];
    for (const b of bits) {
      const bytes = encodeModel(writeSimulationModel(m.proto, m.graph, configFor({ [l.name]: b }, w)));
      const q = await logitsOf(bytes, m, s, p.signal);
      rowDrop.push(score.drop(q));
      rowKl.push(klDivergence(base.logits, q.logits, base.lastDim));
      p.onProgress?.(++done, total);
    }
    drop.push(rowDrop);
    kl.push(rowKl);
  }
  return { layers: layers.map((l) => l.name), bits, drop, kl, fp32Top1, metric: score.metric };
}

/**
 * Estimator 2: per layer, the exact weight-noise variance of each bit width, and kappa (output logit MSE per unit
 * of injected Gaussian weight-noise variance) from three noise levels around the layer's 4-bit noise; the slope
 * from output noise to top-1 drop is fitted on the same injections.
 */
export async function measureNoiseModel(m: ModelUnderTest, s: Slice, bits: number[], w: WeightSettings, seed = 1, p: Progress = {}): Promise<NoiseModel> {
  const layers = quantizableLayers(m.proto, m.graph);
  const base = await logitsOf(encodeModel(m.proto), m, s, p.signal);
  const score = dropScorer(s, base);
  const normal = gaussian(mulberry32(seed));
  const levels = [0.25, 1, 4];
  const kappa: number[] = [];
  const sigma2: number[][] = [];
  const noisePts: number[] = [];
  const dropPts: number[] = [];
  let done = 0;
  for (const l of layers) {
    const values = tensorToFloat32(weightTensor(m.proto, l.weight));
    const mse = (b: number): number => {
      if (b >= 16) return 0;
      const deq = dequantizeWeights(quantizeWeights(values, l.weightDims, weightSpec(configFor({}, w), l, b as Exclude<LayerBits, 32 | 16>)));
      let e = 0;
      for (let i = 0; i < values.length; i++) e += (values[i] - deq[i]) ** 2;
      return e / values.length;
    };
    const row = bits.map(mse);
    sigma2.push(row);
    const ref = mse(4) || row.find((x) => x > 0) || 1e-6;
    let num = 0;
    let den = 0;
    for (const f of levels) {
      const v = ref * f;
      const sd = Math.sqrt(v);
      const noisy = Float32Array.from(values, (x) => x + sd * normal());
      const bytes = encodeModel(writeWithWeights(m.proto, m.graph, new Map([[l.name, noisy]]), 'noise'));
      const q = await logitsOf(bytes, m, s, p.signal);
      let outMse = 0;
      for (let i = 0; i < q.logits.length; i++) outMse += (q.logits[i] - base.logits[i]) ** 2;
      outMse /= q.logits.length;
      num += outMse * v;
      den += v * v;
      noisePts.push(outMse);
      dropPts.push(score.drop(q));
      p.onProgress?.(++done, layers.length * levels.length);
    }
    kappa.push(num / den);
  }
  return { layers: layers.map((l) => l.name), bits, kappa, sigma2, dropPerNoise: fitSlope(noisePts, dropPts) };
}

export interface ValidationPoint {
  config: BitsByLayer;
  measuredDrop: number;
  bySensitivity: number;
  byNoise: number;
  noise: number;
}

export interface ValidationReport {
  points: ValidationPoint[];
  spearmanSensitivity: number;
  spearmanNoise: number;
  pearsonSensitivity: number;
  pearsonNoise: number;
  fp32Top1: number;
}

/** Random mixed-precision configurations: each layer's bits drawn from `bits` (seeded). */
export function randomConfigs(layers: string[], bits: number[], n: number, seed: number): BitsByLayer[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => Object.fromEntries(layers.map((l) => [l, bits[Math.floor(rand() * bits.length)]])));
}

/**
 * Validation built into the feature: measure random mixed configurations on held-out data and report the rank
 * correlation between predicted and measured degradation, for both estimators.
 */
export async function validateEstimators(
  m: ModelUnderTest,
  evalSlice: Slice,
  table: SensitivityTable,
  noise: NoiseModel,
  configs: BitsByLayer[],
  w: WeightSettings,
  p: Progress = {},
): Promise<ValidationReport> {
  const base = await logitsOf(encodeModel(m.proto), m, evalSlice, p.signal);
  const score = dropScorer(evalSlice, base);
  const fp32Top1 = score.reference;
  const points: ValidationPoint[] = [];
  for (const config of configs) {
    const bytes = encodeModel(writeSimulationModel(m.proto, m.graph, configFor(config, w)));
    const q = await logitsOf(bytes, m, evalSlice, p.signal);
    points.push({
      config,
      measuredDrop: score.drop(q),
      bySensitivity: predictBySensitivity(table, config),
      byNoise: predictByNoise(noise, config),
      noise: predictNoise(noise, config),
    });
    p.onProgress?.(points.length, configs.length);
  }
  const measured = points.map((x) => x.measuredDrop);
  return {
    points,
    spearmanSensitivity: spearman(points.map((x) => x.bySensitivity), measured),
    spearmanNoise: spearman(points.map((x) => x.noise), measured),
    pearsonSensitivity: pearson(points.map((x) => x.bySensitivity), measured),
    pearsonNoise: pearson(points.map((x) => x.byNoise), measured),
    fp32Top1,
  };
}
