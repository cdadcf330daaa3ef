import { renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CoreError } from '../api/errors.js';
import { loadIdxDataset } from '../accuracy/idxDataset.js';
import { inputDimsFor } from '../accuracy/top1.js';
import { tensorToFloat32 } from '../onnx/modelCodec.js';
import { encodeModel } from '../onnx/modelCodec.js';
import { weightTensor } from '../onnx/modelEdit.js';
import { packedWeightBytes } from '../quant/packing.js';
import { writeMatMulNBitsModel } from '../quant/matMulNBitsWriter.js';
import { writeQdqModel } from '../quant/qdqWriter.js';
import {
  checkActivationBits,
  defaultQuantConfig,
  parseBitsSpec,
  weightBitsOf,
  type ActivationBits,
  type CalibrationMethod,
  type QuantConfig,
} from '../quant/quantConfig.js';
import { outputRangeTensor, quantizableLayers } from '../quant/quantizableLayers.js';
import { weightSpec, writeSimulationModel } from '../quant/simulationWriter.js';
import { quantizeWeights } from '../quant/weightQuant.js';
import { calibrateRanges } from '../run/calibrate.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { sha256Hex } from '../util/hash.js';
import { loadModel, type LoadedModel } from './models.js';

export type QuantFormat = 'simulation' | 'qdq' | 'matmul-nbits';

export interface QuantizeOptions {
  /** `conv1=4,default=8` (see parseBitsSpec). */
  bits?: string;
  actBits?: number;
  format?: QuantFormat;
  symmetric?: boolean;
  granularity?: 'tensor' | 'channel' | 'block';
  blockSize?: number;
  clipping?: 'none' | 'mse';
  /** Calibration dataset name (required for quantized activations and for qdq). */
  calib?: string;
  calibSamples?: number;
  calibOffset?: number;
  method?: CalibrationMethod;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface QuantizeResult {
  config: QuantConfig;
  bytes: Uint8Array;
  sha256: string;
  format: QuantFormat;
  /** Parameter-weighted mean bits over the quantizable layers (32 for FP32 layers). */
  averageBits: number;
  /** Packed bytes of the quantizable layers' weights as they would be sent to a device (codes + scales + zero points). */
  packedWeightBytes: number;
  fp32WeightBytes: number;
}

/** Builds the configuration from CLI-style options, checking names, widths and calibration needs. */
export async function buildQuantConfig(store: SqliteStore, m: LoadedModel, o: QuantizeOptions): Promise<QuantConfig> {
  const layers = quantizableLayers(m.proto, m.graph);
  if (layers.length === 0) {
    throw new CoreError('quant-no-layers', `Model '${m.row.name}' has no quantizable layer (Conv, ConvTranspose, Gemm or MatMul with a constant weight). Nothing to quantize.`);
  }
  const format = o.format ?? 'simulation';
  const spec = parseBitsSpec(o.bits ?? 'default=8', layers);
  const actBits: ActivationBits = checkActivationBits(o.actBits ?? (format === 'qdq' ? 8 : 32), '--act-bits');
  const cfg = defaultQuantConfig(spec.default ?? 8, actBits);
  cfg.weights.layers = spec.layers;
  if (format === 'matmul-nbits') {
    // MatMulNBits runs Gemm/MatMul only: every other layer stays FP32, and the config says so.
    for (const l of layers) {
      if (l.opType === 'Gemm' || l.opType === 'MatMul') continue;
      if (spec.layers[l.name] !== undefined && spec.layers[l.name] !== 32) {
        throw new CoreError('quant-not-deployable', `Layer '${l.name}' is a ${l.opType}; the matmul-nbits format quantizes Gemm/MatMul only. Use --format simulation or qdq for it.`);
      }
      cfg.weights.layers[l.name] = 32;
    }
  }
  cfg.weights.symmetric = o.symmetric ?? true;
  cfg.weights.granularity = o.granularity ?? (format === 'matmul-nbits' ? 'block' : 'channel');
  if (o.blockSize !== undefined) cfg.weights.blockSize = o.blockSize;
  cfg.weights.clipping = o.clipping ?? 'none';
  cfg.activations.method = o.method ?? 'minmax';
  const needsRanges = format === 'qdq' || actBits !== 32;
  if (needsRanges) {
    if (!o.calib) {
      throw new CoreError('quant-not-calibrated', `Quantized activations need calibration data. Pass --calib DATASET (e.g. fashion-mnist-train), or --act-bits 32 with the simulation format.`);
    }
    const ds = store.requireDataset(o.calib);
    if (m.row.inputs.length !== 1) throw new CoreError('model-input-count', `Model '${m.row.name}' takes ${m.row.inputs.length} inputs; calibration needs one.`);
    const sampleDims = inputDimsFor(m.row.inputs[0].dims, ds.shape, m.row.name, ds.name);
    const samples = o.calibSamples ?? 1000;
    // Default split: the last samples of the set, so the calibration data is disjoint from the first samples
    // (for Fashion-MNIST's train file: the held-out 5k the zoo models never trained on).
    const offset = o.calibOffset ?? Math.max(0, ds.count - samples);
    const data = loadIdxDataset(ds.imagesPath, ds.labelsPath);
    const tensors = layers.flatMap((l) => [l.activation, ...(format === 'qdq' ? [outputRangeTensor(m.graph, l)] : [])]);
    cfg.activations.ranges = await calibrateRanges(m.proto, m.graph, m.row.name, tensors, data, sampleDims, {
      method: cfg.activations.method,
      bits: format === 'qdq' ? 8 : actBits,
      offset,
      samples,
      onProgress: o.onProgress,
      signal: o.signal,
    });
    cfg.activations.calibration = { dataset: ds.name, samples };
  }
  return cfg;
}

/** Writes the quantized model of one format from a config; the same config always gives the same bytes. */
export function writeQuantized(m: LoadedModel, cfg: QuantConfig, format: QuantFormat): Uint8Array {
  const proto =
    format === 'simulation' ? writeSimulationModel(m.proto, m.graph, cfg) : format === 'qdq' ? writeQdqModel(m.proto, m.graph, cfg) : writeMatMulNBitsModel(m.proto, m.graph, cfg);
  return encodeModel(proto);
}

/** Average bits and packed bytes of a configuration, the sizes a device would download. */
export function quantizedSize(m: LoadedModel, cfg: QuantConfig): { averageBits: number; packedWeightBytes: number; fp32WeightBytes: number } {
  let bitsTimesParams = 0;
  let params = 0;
  let packed = 0;
  for (const l of quantizableLayers(m.proto, m.graph)) {
    const bits = weightBitsOf(cfg, l.name);
    bitsTimesParams += bits * l.weightElements;
    params += l.weightElements;
    if (bits === 16 || bits === 32) packed += (l.weightElements * bits) / 8;
    else packed += packedWeightBytes(quantizeWeights(tensorToFloat32(weightTensor(m.proto, l.weight)), l.weightDims, weightSpec(cfg, l, bits)));
  }
  return { averageBits: bitsTimesParams / params, packedWeightBytes: packed, fp32WeightBytes: params * 4 };
}

export async function quantizeModel(store: SqliteStore, ref: string, o: QuantizeOptions): Promise<QuantizeResult> {
  const m = loadModel(store, ref);
  const format = o.format ?? 'simulation';
  const config = await buildQuantConfig(store, m, o);
  const bytes = writeQuantized(m, config, format);
  return { config, bytes, sha256: sha256Hex(bytes), format, ...quantizedSize(m, config) };
}

/** Writes a file in one step (temp + rename), so a failure never leaves half a model behind. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): string {
  const abs = resolve(path);
  const tmp = `${abs}.partial-${process.pid}`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, abs);
  } catch (e) {
    throw new CoreError('output-unwritable', `Cannot write '${path}' (${(e as Error).message}). Check that the folder '${dirname(abs)}' exists and is writable.`);
  }
  return abs;
}
