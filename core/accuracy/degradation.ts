/**
 * The two degradation estimators of shared/SCIENCE.md, as pure functions over measured tables.
 * A configuration is the bit width of each quantizable layer (32 = FP32).
 */

export type BitsByLayer = Record<string, number>;

/** Estimator 1: measured sensitivity. drop[layer][bits] = top-1 lost when only that layer is quantized. */
export interface SensitivityTable {
  layers: string[];
  bits: number[];
  /** drop[i][j]: layer i at bits[j], as a fraction of top-1 (0.01 = one point). */
  drop: number[][];
  /** KL divergence of the outputs against FP32, same layout (smoother than top-1 on small sets). */
  kl: number[][];
}

/** Predicted degradation = sum of the per-layer drops (the additivity assumption). FP32 layers add nothing. */
export function predictBySensitivity(t: SensitivityTable, cfg: BitsByLayer): number {
  let sum = 0;
  t.layers.forEach((name, i) => {
    const b = cfg[name] ?? 32;
    if (b >= 16) return;
    const j = t.bits.indexOf(b);
    if (j < 0) throw new Error(`sensitivity table has no column for ${b} bits`);
    sum += t.drop[i][j];
  });
  return sum;
}

/**
 * Estimator 2: the theoretical noise model (ours, after Zhou et al., AAAI 2018). Quantizing layer l at q bits adds
 * weight noise of variance sigma2[l][q] (measured exactly from the quantizer); its effect on the output is
 * kappa[l] x that variance, kappa measured once by injecting Gaussian noise of known power; effects add.
 * The output noise D maps to a top-1 drop by a fitted slope (D -> dropPerNoise * D), which keeps it additive.
 */
export interface NoiseModel {
  layers: string[];
  bits: number[];
  /** Output noise power (logit MSE) per unit of weight-noise variance, per layer. */
  kappa: number[];
  /** Weight quantization noise variance per layer and bit width (same layout as bits). */
  sigma2: number[][];
  /** Fitted top-1 drop per unit of predicted output noise. */
  dropPerNoise: number;
}

/** Predicted output noise power D for a configuration. */
export function predictNoise(m: NoiseModel, cfg: BitsByLayer): number {
  let d = 0;
  m.layers.forEach((name, i) => {
    const b = cfg[name] ?? 32;
    if (b >= 16) return;
    const j = m.bits.indexOf(b);
    if (j < 0) throw new Error(`noise model has no column for ${b} bits`);
    d += m.kappa[i] * m.sigma2[i][j];
  });
  return d;
}

export function predictByNoise(m: NoiseModel, cfg: BitsByLayer): number {
  return m.dropPerNoise * predictNoise(m, cfg);
}

/** Least-squares slope through the origin: the drop per unit of noise. */
export function fitSlope(noise: readonly number[], drop: readonly number[]): number {
  let num = 0;
  let den = 0;
  noise.forEach((d, i) => {
    num += d * drop[i];
    den += d * d;
  });
  return den > 0 ? Math.max(num / den, 0) : 0;
}
