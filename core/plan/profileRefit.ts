import type { DeviceProfile } from './devices.js';

/**
 * Refitting a device (or server) profile from stored runs. A profile predicts a stage as the sum of its layer
 * times plus a fixed per-inference cost; measured runs show how far that is off on the real machine (thread
 * hand-offs, frame decoding, cache effects the micro-benchmarks miss). The refit is the affine correction
 *
 *   measured ≈ scale * layerSum + overheadMs,   scale > 0, overheadMs >= 0,
 *
 * fitted by least squares on relative error (each run weighted by 1/measured², so a 1 ms run counts as much as a
 * 100 ms one), and folded back into the profile: every rate divided by `scale`, the per-layer overhead multiplied
 * by it, and `overheadMs` as the new per-inference cost. Pure.
 */
export interface StageSample {
  /** The profile's predicted stage time without its per-inference overhead. */
  layerSumMs: number;
  measuredMs: number;
}

export interface StageFit {
  scale: number;
  overheadMs: number;
  samples: number;
  /** Median / worst relative error of the fit on its own samples, and leave-one-out (each sample predicted without it). */
  fitted: { median: number; worst: number };
  leaveOneOut: { median: number; worst: number } | null;
}

function fitAffine(s: readonly StageSample[]): { scale: number; overheadMs: number } {
  // Weighted normal equations for y = a x + b with w = 1/y².
  let sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const { layerSumMs: x, measuredMs: y } of s) {
    const w = 1 / Math.max(y, 1e-6) ** 2;
    sw += w;
    sx += w * x;
    sy += w * y;
    sxx += w * x * x;
    sxy += w * x * y;
  }
  const det = sw * sxx - sx * sx;
  let a = det > 1e-30 ? (sw * sxy - sx * sy) / det : Number.NaN;
  let b = det > 1e-30 ? (sxx * sy - sx * sxy) / det : Number.NaN;
  if (!(a > 0) || !(b >= 0)) {
    // Fall back to one parameter: a pure scale (b = 0), or, if the layer sums carry no signal, a pure offset.
    a = sxx > 0 ? sxy / sxx : Number.NaN;
    b = 0;
    if (!(a > 0)) {
      a = 1e-9;
      b = sy / sw;
    }
  }
  return { scale: a, overheadMs: b };
}

const relErrors = (s: readonly StageSample[], f: { scale: number; overheadMs: number }) => s.map((x) => Math.abs(f.scale * x.layerSumMs + f.overheadMs - x.measuredMs) / x.measuredMs);

/** Median and largest of a list of relative errors. */
export function medianWorst(v: readonly number[]): { median: number; worst: number } {
  const s = [...v].sort((a, b) => a - b);
  return { median: s.length ? (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2 : Number.NaN, worst: s.length ? s[s.length - 1] : Number.NaN };
}

export function fitStage(samples: readonly StageSample[]): StageFit {
  const s = samples.filter((x) => x.measuredMs > 0 && x.layerSumMs >= 0);
  if (s.length < 2) throw new Error('fitStage needs at least two runs');
  const f = fitAffine(s);
  const loo = s.length >= 3 ? medianWorst(s.map((x, i) => relErrors([x], fitAffine(s.filter((_, j) => j !== i)))[0])) : null;
  return { ...f, samples: s.length, fitted: medianWorst(relErrors(s, f)), leaveOneOut: loo };
}

/** The profile with the fit folded in (see the header). */
export function applyStageFit(d: DeviceProfile, f: Pick<StageFit, 'scale' | 'overheadMs' | 'samples'>, name = d.name): DeviceProfile {
  return {
    ...d,
    name,
    kind: 'measured',
    source: `${d.source}; refitted from ${f.samples} stored runs (x${f.scale.toFixed(3)} layer time, +${f.overheadMs.toFixed(3)} ms per inference)`.slice(-1000),
    macsPerSecond: { fp32: d.macsPerSecond.fp32 / f.scale, int8: d.macsPerSecond.int8 / f.scale, int4: d.macsPerSecond.int4 / f.scale },
    elementsPerSecond: d.elementsPerSecond / f.scale,
    layerOverheadMs: d.layerOverheadMs * f.scale,
    inferenceOverheadMs: f.overheadMs,
  };
}
