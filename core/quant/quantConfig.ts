import { CoreError } from '../api/errors.js';
import type { QuantizableLayer } from './quantizableLayers.js';

/** Precision of a layer's weights: 32 = FP32 (unchanged), 16 = FP16, otherwise integer bits. */
export type LayerBits = 32 | 16 | 8 | 6 | 5 | 4 | 3 | 2;
export const LAYER_BITS: readonly LayerBits[] = [32, 16, 8, 6, 5, 4, 3, 2];
/** Activation precision: 32 = not quantized. */
export type ActivationBits = 32 | 8 | 6 | 5 | 4 | 3 | 2;
export const ACTIVATION_BITS: readonly ActivationBits[] = [32, 8, 6, 5, 4, 3, 2];

export type CalibrationMethod = 'minmax' | 'percentile' | 'mse';

/**
 * A complete, JSON-serialisable quantization configuration. Written into every quantized model's metadata
 * (`partita.quant`), so a file says how it was made, and the same config always writes the same bytes.
 */
export interface QuantConfig {
  version: 1;
  weights: {
    /** Bits of every quantizable layer not listed in `layers`. */
    default: LayerBits;
    /** Per-layer overrides by layer name. */
    layers: Record<string, LayerBits>;
    symmetric: boolean;
    granularity: 'tensor' | 'channel' | 'block';
    blockSize?: number;
    clipping: 'none' | 'mse';
    /** INT8 QDQ only: 7-bit weight range in 8-bit storage (default true; see weightQuant's reduceRange). */
    reduceRange?: boolean;
  };
  activations: {
    /** Bits of the activation input of every quantized layer (32 = keep float). */
    default: ActivationBits;
    layers: Record<string, ActivationBits>;
    method: CalibrationMethod;
    /** Calibrated ranges per tensor name; required for every quantized activation. */
    ranges: Record<string, { min: number; max: number }>;
    /** Where the ranges came from (dataset name, sample count), for the record. */
    calibration?: { dataset: string; samples: number };
  };
}

export function defaultQuantConfig(weightBits: LayerBits = 8, activationBits: ActivationBits = 32): QuantConfig {
  return {
    version: 1,
    weights: { default: weightBits, layers: {}, symmetric: true, granularity: 'channel', clipping: 'none' },
    activations: { default: activationBits, layers: {}, method: 'minmax', ranges: {} },
  };
}

export function weightBitsOf(cfg: QuantConfig, layer: string): LayerBits {
  return cfg.weights.layers[layer] ?? cfg.weights.default;
}

export function activationBitsOf(cfg: QuantConfig, layer: string): ActivationBits {
  return cfg.activations.layers[layer] ?? cfg.activations.default;
}

export function checkWeightBits(v: number, where: string): LayerBits {
  if (!(LAYER_BITS as readonly number[]).includes(v)) {
    throw new CoreError('quant-bits-unsupported', `Bit width ${v} (${where}) is not supported. Use 2, 3, 4, 5, 6 or 8, 16 for FP16 or 32 to keep FP32.`);
  }
  return v as LayerBits;
}

export function checkActivationBits(v: number, where: string): ActivationBits {
  if (!(ACTIVATION_BITS as readonly number[]).includes(v)) {
    throw new CoreError('quant-bits-unsupported', `Activation bit width ${v} (${where}) is not supported. Use 2, 3, 4, 5, 6 or 8, or 32 to keep activations in float.`);
  }
  return v as ActivationBits;
}

/**
 * Resolves a user's layer reference: an exact layer name, '#N' for the N-th quantizable layer, or a fragment that
 * names exactly one layer (e.g. 'conv1' for '/conv1/Conv').
 */
export function resolveLayer(ref: string, layers: readonly QuantizableLayer[]): QuantizableLayer {
  const exact = layers.find((l) => l.name === ref);
  if (exact) return exact;
  const hash = /^#(\d+)$/.exec(ref);
  if (hash && layers[Number(hash[1]) - 1]) return layers[Number(hash[1]) - 1];
  const parts = (n: string) => n.split(/[/.:]/).filter(Boolean);
  const matches = layers.filter((l) => parts(l.name).includes(ref) || l.name.includes(ref));
  if (matches.length === 1) return matches[0];
  const names = layers.map((l) => l.name);
  if (matches.length > 1) {
    throw new CoreError('quant-layer-ambiguous', `Layer '${ref}' matches ${matches.length} layers (${matches.map((m) => m.name).slice(0, 6).join(', ')}). Use the full layer name.`);
  }
  throw new CoreError(
    'quant-layer-unknown',
    `No quantizable layer '${ref}'. Quantizable layers: ${names.slice(0, 12).join(', ')}${names.length > 12 ? `, … (${names.length} in all)` : ''}.`,
  );
}

/** Parses `conv1=4,fc=8,default=6` into default + per-layer bits, checking names and widths. */
export function parseBitsSpec(spec: string, layers: readonly QuantizableLayer[]): { default?: LayerBits; layers: Record<string, LayerBits> } {
  const out: { default?: LayerBits; layers: Record<string, LayerBits> } = { layers: {} };
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.lastIndexOf('=');
    if (eq <= 0) {
      const bits = Number(part);
      if (Number.isInteger(bits) && spec.split(',').length === 1) {
        out.default = checkWeightBits(bits, 'default');
        continue;
      }
      throw new CoreError('quant-bits-spec-invalid', `'${part}' is not LAYER=BITS. Write e.g. --bits conv1=4,default=8.`);
    }
    const name = part.slice(0, eq);
    const bits = Number(part.slice(eq + 1));
    if (name === 'default') out.default = checkWeightBits(bits, 'default');
    else out.layers[resolveLayer(name, layers).name] = checkWeightBits(bits, name);
  }
  return out;
}
