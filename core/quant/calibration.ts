/**
 * Activation calibration: streaming range observers, ONNX QuantizeLinear parameters, and fake quantization.
 *
 * Observers see activations chunk by chunk and keep O(1) (min/max) or O(bins) (histograms) numbers, never the
 * samples: calibrating on thousands of images must not need memory proportional to them.
 *
 * Quantization parameters follow ONNX QuantizeLinear / DequantizeLinear:
 *   q = saturate(roundHalfToEven(float32(x / scale)) + zeroPoint),   x' = float32((q - zeroPoint) * scale)
 * - asymmetric (the default): unsigned codes [0, 2^b-1] (uint8 for 8 bit), zero point in that range, range widened
 *   to include 0 so that 0 is exact;
 * - symmetric: signed codes (int8 for 8 bit), zero point 0, scale = maxAbs / (2^(b-1)-1); saturation uses the full
 *   type range [-2^(b-1), 2^(b-1)-1], as ONNX does.
 */
import { CoreError } from '../api/errors.js';
import { roundHalfToEven } from './weightQuant.js';

/** An activation range in real units. */
export interface ActivationRange {
  min: number;
  max: number;
}

export interface QParams {
  /** Real units per code step; a positive float32. */
  scale: number;
  /** Integer code that represents 0.0: 0 when symmetric, in [0, 2^bits-1] otherwise. */
  zeroPoint: number;
}

/**
 * A streaming estimate of an activation tensor's range. `observe` may be called any number of times with chunks of
 * any size; the state stays the same size. Non-finite values (NaN, +-Infinity) are skipped and not counted.
 */
export interface RangeObserver {
  observe(values: Float32Array): void;
  /**
   * The range to quantize to at `bits` bits. `symmetric` (default false) asks for a range suited to symmetric
   * quantization; only observers that optimise the range for a quantizer (MSE, percentile of |x|) use it.
   * Throws CoreError 'calibration-empty' when no finite value has been observed.
   */
  range(bits: number, symmetric?: boolean): ActivationRange;
  /** Number of finite values observed so far. */
  readonly count: number;
  /** Number of numbers the observer stores — constant in the number of values observed (a memory check). */
  stateSize(): number;
}

function emptyError(): CoreError {
  return new CoreError(
    'calibration-empty',
    'No finite calibration values were observed. Feed at least one batch of calibration data (without NaN or infinite activations) before asking for a range.',
  );
}

/** Exact running minimum and maximum. Chunking never changes the result. */
export class MinMaxObserver implements RangeObserver {
  private lo = Infinity;
  private hi = -Infinity;
  private n = 0;

  observe(values: Float32Array): void {
    let lo = this.lo;
    let hi = this.hi;
    let n = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      // v - v is NaN for NaN and +-Infinity: one test skips every non-finite value.
      if (v - v !== 0) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      n++;
    }
    this.lo = lo;
    this.hi = hi;
    this.n += n;
  }

  range(_bits: number, _symmetric?: boolean): ActivationRange {
    if (this.n === 0) throw emptyError();
    return { min: this.lo, max: this.hi };
  }

  get count(): number {
    return this.n;
  }

  stateSize(): number {
    return 3;
  }
}

/**
 * A histogram over [-R, R) that grows by doubling R and merging adjacent bin pairs, so memory is O(bins) however
 * many values arrive. R is always a power of two and bin edges are exact binary fractions of R, so a value's bin
 * does not depend on when R last grew: the histogram — and every range derived from it — is identical whether the
 * data came as one array or as many chunks. Exact zeros are counted apart (they quantize without error and ReLU
 * outputs have many). Resolution is one bin width, 2R / bins, which outliers make coarse.
 */
class DoublingHistogram {
  /** Bins per sign. */
  readonly half: number;
  /** pos[i] counts x in [i w, (i+1) w), neg[i] counts x in (-(i+1) w, -i w], with w = R / half. */
  readonly pos: Float64Array;
  readonly neg: Float64Array;
  /** Half-width R of the covered range (a power of two), 0 until the first non-zero value. */
  rangeAbs = 0;
  zeros = 0;
  count = 0;

  constructor(bins: number) {
    if (!Number.isInteger(bins) || bins < 8 || bins % 4 !== 0) {
      throw new CoreError('calibration-bins-invalid', `A histogram of ${String(bins)} bins is not supported. Use a multiple of 4 of at least 8, e.g. 2048.`);
    }
    this.half = bins / 2;
    this.pos = new Float64Array(this.half);
    this.neg = new Float64Array(this.half);
  }

  get binWidth(): number {
    return this.rangeAbs / this.half;
  }

  observe(values: Float32Array): void {
    const { pos, neg, half } = this;
    // 1 / R is exact (R is a power of two), so a * invR * half equals (a / R) * half.
    let invR = this.rangeAbs > 0 ? 1 / this.rangeAbs : 0;
    let n = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) continue; // NaN or infinite
      n++;
      if (v === 0) {
        this.zeros++;
        continue;
      }
      const a = v < 0 ? -v : v;
      if (a * invR >= 1 || invR === 0) {
        this.cover(a);
        invR = 1 / this.rangeAbs;
      }
      // a / R is exact and times `half` stays exact for float32 inputs, so the floor is the true bin whatever R
      // was when earlier values arrived; a < R keeps it below half.
      const bin = Math.floor(a * invR * half);
      if (v > 0) pos[bin]++;
      else neg[bin]++;
    }
    this.count += n;
  }

  /** Grows R (a power of two) until |x| < R for x = maxAbs, merging bin pairs at each doubling. */
  private cover(maxAbs: number): void {
    if (this.rangeAbs === 0) {
      let r = 2 ** Math.floor(Math.log2(maxAbs));
      while (r <= maxAbs) r *= 2;
      while (r / 2 > maxAbs) r /= 2;
      this.rangeAbs = r;
      return;
    }
    while (this.rangeAbs <= maxAbs) {
      for (const h of [this.pos, this.neg]) {
        for (let i = 0; i < this.half / 2; i++) h[i] = h[2 * i] + h[2 * i + 1];
        h.fill(0, this.half / 2);
      }
      this.rangeAbs *= 2;
    }
  }

  /** Count in global bin j of the signed order: j in [0, 2 half) covers [-R + j w, -R + (j+1) w). */
  signedCount(j: number): number {
    return j < this.half ? this.neg[this.half - 1 - j] : this.pos[j - this.half];
  }

  /**
   * The f-quantile (0 <= f <= 1) of x (or of |x| when `magnitude`), with values spread uniformly inside each bin
   * and the exact zeros as a point mass at 0.
   */
  quantile(f: number, magnitude: boolean): number {
    const target = f * this.count;
    const w = this.binWidth;
    let cum = 0;
    const step = (c: number, lo: number): number | undefined => {
      if (c > 0 && cum + c >= target) return lo + (w * (target - cum)) / c;
      cum += c;
      return undefined;
    };
    if (magnitude) {
      if (this.zeros > 0 && this.zeros >= target) return 0;
      cum = this.zeros;
      for (let i = 0; i < this.half; i++) {
        const q = step(this.pos[i] + this.neg[i], i * w);
        if (q !== undefined) return q;
      }
      return this.rangeAbs;
    }
    for (let j = 0; j < this.half; j++) {
      const q = step(this.signedCount(j), -this.rangeAbs + j * w);
      if (q !== undefined) return q;
    }
    if (this.zeros > 0 && cum + this.zeros >= target) return 0;
    cum += this.zeros;
    for (let j = this.half; j < 2 * this.half; j++) {
      const q = step(this.signedCount(j), -this.rangeAbs + j * w);
      if (q !== undefined) return q;
    }
    return this.rangeAbs;
  }

  stateSize(): number {
    return this.pos.length + this.neg.length + 3;
  }
}

/**
 * Clips the tails: the range is [q(1 - p/100), q(p/100)] of the observed values (each tail loses (100 - p)% of the
 * mass), or [-t, t] with t = q(p/100) of |x| when asked for a symmetric range. Robust to rare outliers, which a
 * min/max range would stretch to. Accurate to one histogram bin.
 */
export class PercentileObserver implements RangeObserver {
  private readonly hist: DoublingHistogram;

  constructor(
    readonly percentile = 99.99,
    bins = 2048,
  ) {
    if (!(percentile > 50 && percentile <= 100)) {
      throw new CoreError('calibration-percentile-invalid', `Percentile ${String(percentile)} is out of range. Use a value above 50 and at most 100, e.g. 99.99.`);
    }
    this.hist = new DoublingHistogram(bins);
  }

  observe(values: Float32Array): void {
    this.hist.observe(values);
  }

  range(_bits: number, symmetric = false): ActivationRange {
    const h = this.hist;
    if (h.count === 0) throw emptyError();
    if (h.rangeAbs === 0) return { min: 0, max: 0 };
    const f = this.percentile / 100;
    if (symmetric) {
      const t = h.quantile(f, true);
      return { min: -t, max: t };
    }
    return { min: h.quantile(1 - f, false), max: h.quantile(f, false) };
  }

  get count(): number {
    return this.hist.count;
  }

  /** Width of one histogram bin in real units: the resolution of the returned ranges. */
  get binWidth(): number {
    return this.hist.binWidth;
  }

  stateSize(): number {
    return this.hist.stateSize() + 1;
  }
}

/** Above this many (lo, hi) candidate pairs the asymmetric MSE search goes coarse-to-fine. */
export const MSE_EXHAUSTIVE_PAIRS = 16384;

/**
 * Chooses the range that minimises the expected quantization error at the requested bit width, from the histogram.
 *
 * Error model, per candidate range: values inside the representable range [(qmin - zp) s, (qmax - zp) s] get the
 * uniform rounding noise s^2/12 (the noise model of SCIENCE.md); values outside get their exact squared clipping
 * error, integrating a density that is uniform inside each bin; exact zeros cost nothing (0 is always exact).
 * Candidates are the bin edges t for [-t, t] (symmetric: all of them) or pairs of bin edges lo <= 0 <= hi
 * (asymmetric: all pairs up to MSE_EXHAUSTIVE_PAIRS, else a coarse-to-fine search over them), each scored in O(1)
 * with prefix sums from O(bins) scratch.
 */
export class MseObserver implements RangeObserver {
  private readonly hist: DoublingHistogram;

  constructor(bins = 2048) {
    this.hist = new DoublingHistogram(bins);
  }

  observe(values: Float32Array): void {
    this.hist.observe(values);
  }

  range(bits: number, symmetric = false): ActivationRange {
    checkActivationBits(bits);
    const h = this.hist;
    if (h.count === 0) throw emptyError();
    if (h.rangeAbs === 0) return { min: 0, max: 0 };
    const B = 2 * h.half;
    const R = h.rangeAbs;
    const w = h.binWidth;
    // Prefix sums over the signed bins: mass, first moment, second moment (m^2 + w^2/12 for a bin of centre m).
    const P0 = new Float64Array(B + 1);
    const P1 = new Float64Array(B + 1);
    const P2 = new Float64Array(B + 1);
    let first = -1;
    let last = -1;
    for (let j = 0; j < B; j++) {
      const c = h.signedCount(j);
      const m = -R + (j + 0.5) * w;
      P0[j + 1] = P0[j] + c;
      P1[j + 1] = P1[j] + c * m;
      P2[j + 1] = P2[j] + c * (m * m + (w * w) / 12);
      if (c > 0) {
        if (first < 0) first = j;
        last = j;
      }
    }
    const binOf = (x: number): number => Math.min(B - 1, Math.max(0, Math.floor((x + R) / w)));
    /** Mass of the binned (non-zero) values at or below x. */
    const massBelow = (x: number): number => {
      if (x <= -R) return 0;
      if (x >= R) return P0[B];
      const k = binOf(x);
      return P0[k] + ((P0[k + 1] - P0[k]) * (x - (-R + k * w))) / w;
    };
    /** Sum over bins [a, b) of c * E[(x - t)^2], from the prefix sums. */
    const moment = (a: number, b: number, t: number): number =>
      P2[b] - P2[a] - 2 * t * (P1[b] - P1[a]) + t * t * (P0[b] - P0[a]);
    const tailAbove = (t: number): number => {
      if (t >= R) return 0;
      if (t <= -R) return moment(0, B, t);
      const k = binOf(t);
      const c = P0[k + 1] - P0[k];
      const e = -R + (k + 1) * w - t;
      return Math.max(0, moment(k + 1, B, t)) + (c / w) * (e * e * e) / 3;
    };
    const tailBelow = (t: number): number => {
      if (t <= -R) return 0;
      if (t >= R) return moment(0, B, t);
      const k = binOf(t);
      const c = P0[k + 1] - P0[k];
      const e = t - (-R + k * w);
      return Math.max(0, moment(0, k, t)) + (c / w) * (e * e * e) / 3;
    };
    const p: QParams = { scale: 1, zeroPoint: 0 };
    const { qmin, qmax } = activationCodeRange(bits, symmetric);
    const cost = (lo: number, hi: number): number => {
      computeQParams(lo, hi, bits, symmetric, p);
      const loRep = (qmin - p.zeroPoint) * p.scale;
      const hiRep = (qmax - p.zeroPoint) * p.scale;
      const inside = massBelow(hiRep) - massBelow(loRep);
      return (inside * p.scale * p.scale) / 12 + tailAbove(hiRep) + tailBelow(loRep);
    };

    const H = h.half; // index of the edge at 0
    let best: ActivationRange = { min: 0, max: 0 };
    let bestCost = Infinity;
    // Widest candidates first and strict improvement only, so ties keep the wider range.
    if (symmetric) {
      const kMax = Math.max(H - first, last + 1 - H);
      for (let k = kMax; k >= 1; k--) {
        const t = k * w;
        const c = cost(-t, t);
        if (c < bestCost) {
          bestCost = c;
          best = { min: -t, max: t };
        }
      }
      return best;
    }
    // Lower edges a in [aFirst, H] (lo <= 0), upper edges b in [H, bLast] (hi >= 0). Exhaustive when there are at
    // most MSE_EXHAUSTIVE_PAIRS pairs; otherwise every stride-th edge first, then every edge within one stride of
    // the best coarse pair. The cost is smooth in (lo, hi), so the refinement finds the optimum in practice, at
    // ~1/stride^2 of the work (2048 bins: milliseconds instead of a third of a second).
    const aFirst = Math.min(first, H);
    const bLast = Math.max(last + 1, H);
    const pairs = (H - aFirst + 1) * (bLast - H + 1);
    const stride = Math.max(1, Math.ceil(Math.sqrt(pairs / MSE_EXHAUSTIVE_PAIRS)));
    let bestA = H;
    let bestB = bLast;
    const search = (a0: number, a1: number, b0: number, b1: number, step: number): void => {
      // Widest first (a ascending, b descending), always including the window's ends.
      for (let ai = a0; ; ai = Math.min(ai + step, a1)) {
        for (let bi = b1; ; bi = Math.max(bi - step, b0)) {
          if (ai !== H || bi !== H) {
            const lo = -R + ai * w;
            const hi = -R + bi * w;
            const c = cost(lo, hi);
            if (c < bestCost) {
              bestCost = c;
              bestA = ai;
              bestB = bi;
            }
          }
          if (bi === b0) break;
        }
        if (ai === a1) break;
      }
    };
    search(aFirst, H, H, bLast, stride);
    if (stride > 1) {
      const [ca, cb] = [bestA, bestB];
      search(Math.max(aFirst, ca - stride), Math.min(H, ca + stride), Math.max(H, cb - stride), Math.min(bLast, cb + stride), 1);
    }
    return { min: -R + bestA * w, max: -R + bestB * w };
  }

  get count(): number {
    return this.hist.count;
  }

  /** Width of one histogram bin in real units: the resolution of the returned ranges. */
  get binWidth(): number {
    return this.hist.binWidth;
  }

  stateSize(): number {
    return this.hist.stateSize();
  }
}

function checkActivationBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 2 || bits > 16) {
    throw new CoreError('quant-bits-unsupported', `Activation bit width ${String(bits)} is not supported. Use a whole number from 2 to 16 (8 is the usual choice).`);
  }
}

/** Saturation range of ONNX integer codes: signed [-2^(b-1), 2^(b-1)-1] or unsigned [0, 2^b-1]. */
export function activationCodeRange(bits: number, signed: boolean): { qmin: number; qmax: number } {
  return signed ? { qmin: -(2 ** (bits - 1)), qmax: 2 ** (bits - 1) - 1 } : { qmin: 0, qmax: 2 ** bits - 1 };
}

/** Smallest positive normal float32; smaller scales fall back to 1 (the range is then ~0 anyway). */
const FLOAT32_MIN_NORMAL = 2 ** -126;

/** activationQParams without validation or allocation, for the MSE search's inner loop. */
function computeQParams(min: number, max: number, bits: number, symmetric: boolean, out: QParams): void {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (symmetric) {
    const scale = Math.fround(Math.max(-lo, hi) / (2 ** (bits - 1) - 1));
    out.scale = scale >= FLOAT32_MIN_NORMAL ? scale : 1;
    out.zeroPoint = 0;
    return;
  }
  const qmax = 2 ** bits - 1;
  const scale = Math.fround((hi - lo) / qmax);
  if (!(scale >= FLOAT32_MIN_NORMAL)) {
    // min == max == 0 (or a vanishing range): ORT's calibrator uses scale 1, zero point 0 too.
    out.scale = 1;
    out.zeroPoint = 0;
    return;
  }
  out.scale = scale;
  out.zeroPoint = Math.min(qmax, Math.max(0, roundHalfToEven(-lo / scale)));
}

/**
 * ONNX QuantizeLinear parameters for an activation range at `bits` bits (2..16). The range is first widened to
 * include 0. Asymmetric: unsigned codes, scale = (max - min) / (2^b - 1), zeroPoint = roundHalfToEven(-min / scale)
 * in [0, 2^b-1]. Symmetric: signed codes, zeroPoint 0, scale = max|x| / (2^(b-1) - 1). A degenerate range
 * (min == max == 0) gives scale 1, zeroPoint 0. The scale is a float32, as the model will store it.
 */
export function activationQParams(range: ActivationRange, bits: number, symmetric: boolean): QParams {
  checkActivationBits(bits);
  if (!Number.isFinite(range.min) || !Number.isFinite(range.max) || range.min > range.max) {
    throw new CoreError(
      'calibration-range-invalid',
      `Activation range [${String(range.min)}, ${String(range.max)}] is not valid. Give finite numbers with min <= max, or recalibrate.`,
    );
  }
  const out: QParams = { scale: 1, zeroPoint: 0 };
  computeQParams(range.min, range.max, bits, symmetric, out);
  return out;
}

function checkQParams(scale: number, zeroPoint: number, bits: number, signed: boolean): { qmin: number; qmax: number; s: number } {
  checkActivationBits(bits);
  const s = Math.fround(scale);
  if (!(s > 0) || s === Infinity) throw new Error(`Quantization scale must be a positive finite float32, got ${scale}.`);
  const { qmin, qmax } = activationCodeRange(bits, signed);
  if (!Number.isInteger(zeroPoint) || zeroPoint < qmin || zeroPoint > qmax) {
    throw new Error(`Zero point ${zeroPoint} is outside the ${signed ? 'signed' : 'unsigned'} ${bits}-bit code range [${qmin}, ${qmax}].`);
  }
  return { qmin, qmax, s };
}

/**
 * ONNX QuantizeLinear: q = saturate(roundHalfToEven(float32(x / scale)) + zeroPoint), computed as ORT's MLAS does
 * (float32 division, clamp, round to nearest even). The scale is taken as float32. NaN maps to qmin, as on ORT's
 * x86 and ARM kernels; +-Infinity saturate.
 */
export function quantizeLinear(values: ArrayLike<number>, scale: number, zeroPoint: number, bits: number, signed: boolean): Int32Array {
  const { qmin, qmax, s } = checkQParams(scale, zeroPoint, bits, signed);
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = Math.fround(values[i]);
    if (Number.isNaN(x)) {
      out[i] = qmin;
      continue;
    }
    // float32(x / s): double division of two float32s then one rounding is the correctly rounded float32 quotient.
    const q = roundHalfToEven(Math.fround(x / s)) + zeroPoint;
    out[i] = q < qmin ? qmin : q > qmax ? qmax : q;
  }
  return out;
}

/** ONNX DequantizeLinear: x' = float32((q - zeroPoint) * scale). */
export function dequantizeLinear(codes: ArrayLike<number>, scale: number, zeroPoint: number): Float32Array {
  const s = Math.fround(scale);
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = Math.fround((codes[i] - zeroPoint) * s);
  return out;
}

/**
 * dequantize(quantize(x)) with ONNX semantics: what a QuantizeLinear -> DequantizeLinear pair outputs. `signed`
 * selects int codes (symmetric) vs uint codes (asymmetric); parameters usually come from activationQParams.
 */
export function fakeQuantize(values: ArrayLike<number>, scale: number, zeroPoint: number, bits: number, signed: boolean): Float32Array {
  return dequantizeLinear(quantizeLinear(values, scale, zeroPoint, bits, signed), scale, zeroPoint);
}
