import type { ModelGraph } from '../onnx/graph.js';
import type { onnx } from '../onnx/generated/onnxProto.js';
import { tensorToFloat32 } from '../onnx/modelCodec.js';
import { weightTensor } from '../onnx/modelEdit.js';
import { activationQParams } from './calibration.js';
import { activationBitsOf, weightBitsOf, type QuantConfig } from './quantConfig.js';
import { outputRangeTensor, quantizableLayers } from './quantizableLayers.js';
import { weightSpec } from './simulationWriter.js';
import { quantizeWeights } from './weightQuant.js';

/**
 * A quantization configuration in the shapes other tools read:
 * - ONNX Runtime's static quantizer (onnxruntime.quantization.quantize_static): nodes to exclude/quantize, the
 *   default types, and per-tensor overrides (extra_options.TensorQuantOverrides) for layers whose bits differ;
 * - AIMET-style encodings: per-tensor activation encodings and per-channel parameter encodings with bitwidth,
 *   scale, offset (= -zero point on the unsigned grid), min, max.
 */

const ORT_TYPE: Record<number, { signed: string; unsigned: string } | undefined> = {
  4: { signed: 'QInt4', unsigned: 'QUInt4' },
  8: { signed: 'QInt8', unsigned: 'QUInt8' },
  16: { signed: 'QInt16', unsigned: 'QUInt16' },
};

export interface OrtQuantOverrides {
  nodes_to_quantize: string[];
  nodes_to_exclude: string[];
  per_channel: boolean;
  weight_type: string;
  activation_type: string;
  extra_options: { TensorQuantOverrides: Record<string, { quant_type?: string; symmetric?: boolean; axis?: number; rmin?: number; rmax?: number }[]> };
  /** Layers whose bit width ONNX Runtime's quantizer has no type for (3, 5, 6 bit): simulate them with Partita. */
  unsupported_by_ort: { node: string; bits: number }[];
}

export function ortQuantOverrides(model: onnx.IModelProto, graph: ModelGraph, cfg: QuantConfig): OrtQuantOverrides {
  const layers = quantizableLayers(model, graph);
  const out: OrtQuantOverrides = {
    nodes_to_quantize: [],
    nodes_to_exclude: [],
    per_channel: cfg.weights.granularity === 'channel',
    weight_type: cfg.weights.symmetric ? 'QInt8' : 'QUInt8',
    activation_type: 'QUInt8',
    extra_options: { TensorQuantOverrides: {} },
    unsupported_by_ort: [],
  };
  for (const l of layers) {
    const bits = weightBitsOf(cfg, l.name);
    if (bits === 32 || bits === 16) {
      out.nodes_to_exclude.push(l.name);
      continue;
    }
    out.nodes_to_quantize.push(l.name);
    const t = ORT_TYPE[bits];
    if (!t) {
      out.unsupported_by_ort.push({ node: l.name, bits });
      continue;
    }
    if (bits !== 8) {
      out.extra_options.TensorQuantOverrides[l.weight] = [
        { quant_type: cfg.weights.symmetric ? t.signed : t.unsigned, symmetric: cfg.weights.symmetric, ...(out.per_channel ? { axis: l.channelAxis } : {}) },
      ];
    }
    const r = cfg.activations.ranges[l.activation];
    if (r) out.extra_options.TensorQuantOverrides[l.activation] = [{ rmin: r.min, rmax: r.max }];
  }
  return out;
}

export interface AimetEncoding {
  bitwidth: number;
  dtype: 'int' | 'float';
  is_symmetric: 'True' | 'False';
  scale: number;
  offset: number;
  min: number;
  max: number;
}

export interface AimetEncodings {
  version: string;
  activation_encodings: Record<string, AimetEncoding[]>;
  param_encodings: Record<string, AimetEncoding[]>;
}

function encoding(bits: number, symmetric: boolean, scale: number, zeroPoint: number, signed: boolean): AimetEncoding {
  // AIMET describes every grid as unsigned codes 0..2^b-1 with value = scale * (code + offset).
  const shift = signed ? 2 ** (bits - 1) : 0;
  const offset = -(zeroPoint + shift);
  return { bitwidth: bits, dtype: 'int', is_symmetric: symmetric ? 'True' : 'False', scale, offset, min: scale * offset, max: scale * (2 ** bits - 1 + offset) };
}

export function aimetEncodings(model: onnx.IModelProto, graph: ModelGraph, cfg: QuantConfig): AimetEncodings {
  const out: AimetEncodings = { version: '0.6.1', activation_encodings: {}, param_encodings: {} };
  for (const l of quantizableLayers(model, graph)) {
    const bits = weightBitsOf(cfg, l.name);
    if (bits === 32) continue;
    if (bits === 16) {
      out.param_encodings[l.weight] = [{ bitwidth: 16, dtype: 'float', is_symmetric: 'True', scale: 1, offset: 0, min: 0, max: 0 }];
      continue;
    }
    const q = quantizeWeights(tensorToFloat32(weightTensor(model, l.weight)), l.weightDims, weightSpec(cfg, l, bits));
    const signed = q.spec.symmetric;
    out.param_encodings[l.weight] = Array.from(q.scales, (s, g) => encoding(bits, signed, s, q.zeroPoints[g], signed));
    const aBits = activationBitsOf(cfg, l.name);
    for (const t of [l.activation, outputRangeTensor(graph, l)]) {
      const r = cfg.activations.ranges[t];
      if (!r || aBits === 32) continue;
      const p = activationQParams(r, aBits, false);
      out.activation_encodings[t] = [encoding(aBits, false, p.scale, p.zeroPoint, false)];
    }
  }
  return out;
}
