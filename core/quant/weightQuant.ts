/**
 * Weight quantization: per-tensor, per-channel and per-block uniform quantizers at 2..8 bits, with optional
 * MSE-optimal clipping, plus FP16 rounding.
 *
 * Conventions (the ONNX writers rely on them, so they are fixed here):
 *
 * - **Symmetric**: signed codes in the *restricted* range [-(2^(b-1)-1), 2^(b-1)-1] (8 bit: [-127, 127]; 4 bit:
 *   [-7, 7]; 2 bit: [-1, 1]), zero point 0, scale = maxAbs / (2^(b-1)-1). The most negative code of the type
 *   (-128, -8, ...) is never produced, so +x and -x quantize to mirror-image codes.
 * - **Asymmetric**: unsigned codes in [0, 2^b-1] with an integer zero point in that same range. The range is always
 *   widened to include 0, so 0.0 is exactly representable (it dequantizes to exactly 0: padding and ReLU zeros stay
 *   zeros).
 * - **Rounding**: codes are round-half-to-even of (x / scale) computed in float32, then the zero point is added and
 *   the result saturated — exactly ONNX QuantizeLinear (and ORT's MLAS kernel), so re-quantizing a dequantized weight
 *   reproduces the same codes.
 * - **Dequantization**: value = float32((code - zeroPoint) * scale), the one float32 multiply ONNX DequantizeLinear
 *   (and ORT) performs. A model whose weights are these float32 values computes bit-for-bit what the weight-only QDQ
 *   model (DequantizeLinear on an initializer feeding a float op) computes.
 * - **Groups**: all elements that share one (scale, zero point) pair. Scales are laid out as ONNX DequantizeLinear
 *   expects them (see {@link GroupShape.scaleDims}): per tensor a scalar; per channel a 1-D tensor of length
 *   dims[axis]; per block the weight's shape with dims[blockAxis] divided by blockSize, in row-major order.
 */
import { CoreError } from '../api/errors.js';

/** Bit widths the weight quantizer supports (7 is left out: no runtime kernel or packing benefit over 8). */
export type WeightBits = 2 | 3 | 4 | 5 | 6 | 8;
export const WEIGHT_BITS: readonly WeightBits[] = [2, 3, 4, 5, 6, 8];

export type WeightGranularity = 'tensor' | 'channel' | 'block';
export type WeightClipping = 'none' | 'mse';

export interface WeightQuantSpec {
  bits: WeightBits;
  /** true: signed codes, zero point 0. false: unsigned codes with a per-group zero point. */
  symmetric: boolean;
  granularity: WeightGranularity;
  /** Channel axis for 'channel' (negative counts from the end). Default 0, the output channel of Conv/Gemm(transB) weights; MatMul weights [K, N] want 1. */
  axis?: number;
  /** For 'block': how many consecutive elements along `blockAxis` share a scale, e.g. 32. Must divide dims[blockAxis]. */
  blockSize?: number;
  /** For 'block': the axis the blocks run along (negative counts from the end). Default: the last axis. */
  blockAxis?: number;
  /** 'none': round-to-nearest over the full range. 'mse': per group, shrink the range to minimise the squared reconstruction error. */
  clipping: WeightClipping;
  /**
   * Use one bit less of range than the storage width (8-bit storage, codes in [-63, 63]). x86 integer kernels
   * that sum pairs of u8 x s8 products in 16 bits can saturate at full range; ONNX Runtime's own quantizer offers
   * the same remedy ("reduce_range").
   */
  reduceRange?: boolean;
}

/**
 * How flat element indices map to groups. `innerSize` is the product of the dims after the axis, so element i has
 * axis coordinate floor(i / innerSize) mod dims[axis].
 */
export type GroupShape =
  | { kind: 'tensor'; scaleDims: number[] }
  | { kind: 'channel'; axis: number; channels: number; innerSize: number; scaleDims: number[] }
  | { kind: 'block'; axis: number; blockSize: number; axisLength: number; innerSize: number; scaleDims: number[] };

export interface QuantizedWeights {
  spec: WeightQuantSpec;
  /** The weight's shape (row-major). */
  dims: number[];
  /** One code per element, in the element order of the input values. Signed when symmetric, unsigned otherwise. */
  codes: Int32Array;
  /** One float32 scale per group (real units per code step), groups in `groupShape.scaleDims` row-major order. */
  scales: Float32Array;
  /** One zero point per group: 0 when symmetric, in [0, 2^bits-1] otherwise. */
  zeroPoints: Int32Array;
  groupShape: GroupShape;
  groupCount: number;
}

/** MSE clipping tries this many shrink factors of each group's range, evenly spaced from 1.0 down to MSE_MIN_SHRINK. */
export const MSE_CLIP_CANDIDATES = 100;
export const MSE_MIN_SHRINK = 0.2;

/** Smallest positive normal float32. A smaller scale would be subnormal and lose precision in the division. */
const FLOAT32_MIN_NORMAL = 2 ** -126;

/**
 * Round half to even on a double, the rounding of ONNX QuantizeLinear and of the CPU's default float-to-int
 * conversion. Math.round rounds halves up, so correct the odd results of exact ties.
 */
export function roundHalfToEven(v: number): number {
  const r = Math.round(v);
  // r - v is exact here (|v| < 2^52 whenever it matters), so an exact tie is detected exactly.
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The code range a bit width and signedness give: restricted symmetric for signed, full unsigned otherwise. */
export function weightCodeRange(bits: number, symmetric: boolean): { qmin: number; qmax: number } {
  if (symmetric) {
    const q = 2 ** (bits - 1) - 1;
    return { qmin: -q, qmax: q };
  }
  return { qmin: 0, qmax: 2 ** bits - 1 };
}

function checkBits(bits: number): void {
  if (!(WEIGHT_BITS as readonly number[]).includes(bits)) {
    throw new CoreError('quant-bits-unsupported', `Bit width ${String(bits)} is not supported. Use 2, 3, 4, 5, 6 or 8 (or keep the layer in FP32/FP16).`);
  }
}

function checkDims(dims: readonly number[], length: number): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`Weight dims [${dims.join(', ')}] must be non-negative integers.`);
    n *= d;
  }
  if (n !== length) throw new Error(`Weight dims [${dims.join(', ')}] describe ${n} elements but ${length} values were given.`);
  return n;
}

function normaliseAxis(axis: number, dims: readonly number[], what: string): number {
  const rank = dims.length;
  if (rank === 0) {
    throw new CoreError('quant-axis-out-of-range', `A scalar weight has no ${what} axis. Quantize it per tensor.`);
  }
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new CoreError(
      'quant-axis-out-of-range',
      `${what[0].toUpperCase()}${what.slice(1)} axis ${String(axis)} is out of range for a weight of shape [${dims.join(', ')}]. Use an axis from ${-rank} to ${rank - 1}.`,
    );
  }
  return axis < 0 ? axis + rank : axis;
}

/** Divisors of n nearest to `near` from below and above, for a helpful block-size message. */
function nearbyDivisors(n: number, near: number): number[] {
  const out: number[] = [];
  for (let d = Math.min(near, n); d >= 1; d--) if (n % d === 0) { out.push(d); break; }
  for (let d = Math.max(near, 1); d <= n; d++) if (n % d === 0) { if (!out.includes(d)) out.push(d); break; }
  return out;
}

/**
 * Validates the spec against the weight's shape and describes its groups. Throws CoreError for anything a user
 * can choose wrongly (bits, granularity, axis, block size).
 */
export function groupShapeFor(dims: readonly number[], spec: WeightQuantSpec): GroupShape {
  checkBits(spec.bits);
  if (spec.clipping !== 'none' && spec.clipping !== 'mse') {
    throw new CoreError('quant-clipping-unsupported', `Clipping '${String(spec.clipping)}' is not supported. Use 'none' or 'mse'.`);
  }
  const inner = (axis: number): number => dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  switch (spec.granularity) {
    case 'tensor':
      return { kind: 'tensor', scaleDims: [] };
    case 'channel': {
      const axis = normaliseAxis(spec.axis ?? 0, dims, 'channel');
      return { kind: 'channel', axis, channels: dims[axis], innerSize: inner(axis), scaleDims: [dims[axis]] };
    }
    case 'block': {
      const axis = normaliseAxis(spec.blockAxis ?? dims.length - 1, dims, 'block');
      const bs = spec.blockSize;
      if (bs === undefined || !Number.isInteger(bs) || bs <= 0) {
        throw new CoreError(
          'quant-block-size-invalid',
          `Block size ${String(bs)} is not valid. Give a positive integer that divides the length of the block axis, e.g. 32.`,
        );
      }
      const len = dims[axis];
      if (len % bs !== 0) {
        const alt = nearbyDivisors(len, bs);
        throw new CoreError(
          'quant-block-size-invalid',
          `Block size ${bs} does not divide the length ${len} of axis ${axis} of a weight of shape [${dims.join(', ')}]. Use a block size that divides ${len} (e.g. ${alt.join(' or ')}), or quantize per channel.`,
        );
      }
      const scaleDims = [...dims];
      scaleDims[axis] = len / bs;
      return { kind: 'block', axis, blockSize: bs, axisLength: len, innerSize: inner(axis), scaleDims };
    }
    default:
      throw new CoreError(
        'quant-granularity-unsupported',
        `Granularity '${String(spec.granularity)}' is not supported. Use 'tensor', 'channel' or 'block'.`,
      );
  }
}

/** Number of groups (scales) a group shape has. */
export function groupCountOf(shape: GroupShape): number {
  return shape.scaleDims.reduce((a, b) => a * b, 1);
}

/**
 * The group (index into scales/zeroPoints) of the element at a row-major flat index. For blocks, the group index
 * is the row-major index in scaleDims of the element's coordinates with the block-axis coordinate divided by
 * blockSize — the layout ONNX blocked DequantizeLinear (opset 21) uses.
 */
export function groupIndexOf(shape: GroupShape, flatIndex: number): number {
  switch (shape.kind) {
    case 'tensor':
      return 0;
    case 'channel':
      return Math.floor(flatIndex / shape.innerSize) % shape.channels;
    case 'block': {
      const innerIdx = flatIndex % shape.innerSize;
      const t = Math.floor(flatIndex / shape.innerSize);
      const a = t % shape.axisLength;
      const outer = Math.floor(t / shape.axisLength);
      const blocksAlong = shape.axisLength / shape.blockSize;
      return (outer * blocksAlong + Math.floor(a / shape.blockSize)) * shape.innerSize + innerIdx;
    }
  }
}

/**
 * Scale and zero point for one group whose values span [lo, hi] (lo <= 0 <= hi), after shrinking the range by
 * `shrink` (1 = no clipping). Scales are float32 because that is what the model stores.
 */
function groupParams(lo: number, hi: number, bits: number, symmetric: boolean, shrink: number): { scale: number; zeroPoint: number } {
  const { qmax } = weightCodeRange(bits, symmetric);
  if (symmetric) {
    const scale = Math.fround((Math.max(-lo, hi) * shrink) / qmax);
    // An all-zero (or vanishingly small) group: any positive scale gives code 0 for everything; 1 keeps it tidy.
    return { scale: scale >= FLOAT32_MIN_NORMAL ? scale : 1, zeroPoint: 0 };
  }
  const l = lo * shrink;
  const h = hi * shrink;
  const scale = Math.fround((h - l) / qmax);
  if (!(scale >= FLOAT32_MIN_NORMAL)) return { scale: 1, zeroPoint: 0 };
  // -l / scale lies in [0, qmax] up to float rounding, so the clamp only guards that rounding.
  const zeroPoint = Math.min(qmax, Math.max(0, roundHalfToEven(-l / scale)));
  return { scale, zeroPoint };
}

/** ONNX QuantizeLinear of one value: saturate(roundHalfToEven(float32(x / scale)) + zeroPoint). */
function quantizeOne(x: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  const q = roundHalfToEven(Math.fround(x / scale)) + zeroPoint;
  return q < qmin ? qmin : q > qmax ? qmax : q;
}

/** ONNX DequantizeLinear of one code: float32((code - zeroPoint) * scale). The integer difference times a float32 is exact in double, so one fround gives the float32 product. */
function dequantizeOne(code: number, scale: number, zeroPoint: number): number {
  return Math.fround((code - zeroPoint) * scale);
}

/**
 * Quantizes one group held contiguously in `vals`, writing codes into `codesOut` (same positions). With 'mse'
 * clipping, tries MSE_CLIP_CANDIDATES shrink factors and keeps the one with the least squared error; the first
 * candidate is 1.0 (plain round-to-nearest) and ties keep the earlier candidate, so MSE clipping is never worse.
 */
function quantizeGroup(
  vals: Float32Array,
  codesOut: Int32Array,
  bits: number,
  symmetric: boolean,
  clipping: WeightClipping,
): { scale: number; zeroPoint: number } {
  const { qmin, qmax } = weightCodeRange(bits, symmetric);
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < vals.length; i++) {
    const v = vals[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  let best = groupParams(lo, hi, bits, symmetric, 1);
  if (clipping === 'mse' && vals.length > 0 && hi > lo) {
    let bestErr = Infinity;
    for (let k = 0; k < MSE_CLIP_CANDIDATES; k++) {
      const shrink = 1 - ((1 - MSE_MIN_SHRINK) * k) / (MSE_CLIP_CANDIDATES - 1);
      const p = groupParams(lo, hi, bits, symmetric, shrink);
      let err = 0;
      // Stop as soon as this candidate is already worse: same answer, much less work on big groups.
      for (let i = 0; i < vals.length && err < bestErr; i++) {
        const d = vals[i] - dequantizeOne(quantizeOne(vals[i], p.scale, p.zeroPoint, qmin, qmax), p.scale, p.zeroPoint);
        err += d * d;
      }
      if (err < bestErr) {
        bestErr = err;
        best = p;
      }
    }
  }
  for (let i = 0; i < vals.length; i++) codesOut[i] = quantizeOne(vals[i], best.scale, best.zeroPoint, qmin, qmax);
  return best;
}

/**
 * Quantizes a float32 weight tensor. `values` is row-major with shape `dims`. Returns one code per element (same
 * order), one float32 scale and integer zero point per group. Throws CoreError for an unsupported spec or a
 * non-finite weight.
 */
export function quantizeWeights(values: Float32Array, dims: number[], spec: WeightQuantSpec): QuantizedWeights {
  const n = checkDims(dims, values.length);
  const groupShape = groupShapeFor(dims, spec);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(values[i])) {
      throw new CoreError(
        'quant-non-finite-weight',
        `Weight element ${i} is ${values[i]}, which cannot be quantized. Fix the model's NaN or infinite weights (e.g. re-export it) before quantizing.`,
      );
    }
  }
  const groupCount = groupCountOf(groupShape);
  const codes = new Int32Array(n);
  const scales = new Float32Array(groupCount);
  const zeroPoints = new Int32Array(groupCount);

  if (groupShape.kind === 'tensor') {
    const p = quantizeGroup(values, codes, spec.reduceRange ? spec.bits - 1 : spec.bits, spec.symmetric, spec.clipping);
    scales[0] = p.scale;
    zeroPoints[0] = p.zeroPoint;
    return { spec: { ...spec }, dims: [...dims], codes, scales, zeroPoints, groupShape, groupCount };
  }

  // Gather each group's elements contiguously (a stable counting sort by group) so the per-group work, the MSE
  // search in particular, runs over dense memory; then scatter the codes back to element order.
  const groupOf = new Int32Array(n);
  const start = new Int32Array(groupCount + 1);
  for (let i = 0; i < n; i++) {
    const g = groupIndexOf(groupShape, i);
    groupOf[i] = g;
    start[g + 1]++;
  }
  for (let g = 0; g < groupCount; g++) start[g + 1] += start[g];
  const fill = start.slice(0, groupCount);
  const order = new Int32Array(n);
  const gathered = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const pos = fill[groupOf[i]]++;
    order[pos] = i;
    gathered[pos] = values[i];
  }
  const gatheredCodes = new Int32Array(n);
  for (let g = 0; g < groupCount; g++) {
    const p = quantizeGroup(gathered.subarray(start[g], start[g + 1]), gatheredCodes.subarray(start[g], start[g + 1]), spec.reduceRange ? spec.bits - 1 : spec.bits, spec.symmetric, spec.clipping);
    scales[g] = p.scale;
    zeroPoints[g] = p.zeroPoint;
  }
  for (let pos = 0; pos < n; pos++) codes[order[pos]] = gatheredCodes[pos];
  return { spec: { ...spec }, dims: [...dims], codes, scales, zeroPoints, groupShape, groupCount };
}

/** Dequantizes to float32 exactly as ONNX DequantizeLinear does: float32((code - zeroPoint) * scale) per element. */
export function dequantizeWeights(q: QuantizedWeights): Float32Array {
  if (q.scales.length !== q.groupCount || q.zeroPoints.length !== q.groupCount) {
    throw new Error(`QuantizedWeights has ${q.scales.length} scales and ${q.zeroPoints.length} zero points for ${q.groupCount} groups.`);
  }
  const out = new Float32Array(q.codes.length);
  if (q.groupShape.kind === 'tensor') {
    const s = q.scales[0];
    const z = q.zeroPoints[0];
    for (let i = 0; i < out.length; i++) out[i] = dequantizeOne(q.codes[i], s, z);
    return out;
  }
  for (let i = 0; i < out.length; i++) {
    const g = groupIndexOf(q.groupShape, i);
    out[i] = dequantizeOne(q.codes[i], q.scales[g], q.zeroPoints[g]);
  }
  return out;
}

// Bit views for float32 <-> float16 conversion; module-level scratch is fine, JS runs one call at a time.
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits of a float32 value, rounding to nearest even; overflow gives +-Infinity, NaN stays NaN. */
function halfBitsOf(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15; // the binary16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // binary16 subnormal (or zero): the value is m * 2^-24 with m = mantissa-with-implicit-bit >> (14 - e).
    if (e < -10) return sign; // below 2^-25, half the smallest subnormal: rounds to zero
    const m = mant | 0x800000;
    const shift = 14 - e;
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) !== 0)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and 65520 and up become Infinity).
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half++;
  return sign | half;
}

function valueOfHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? Number.NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** FP32 -> IEEE FP16 bits (round to nearest even), e.g. to write a FLOAT16 initializer. */
export function float32ToFloat16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = halfBitsOf(values[i]);
  return out;
}

/** IEEE FP16 bits -> FP32 values (exact: every binary16 value is a float32). */
export function float16BitsToFloat32(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = valueOfHalfBits(bits[i]);
  return out;
}

/**
 * FP32 -> FP16 -> FP32: the values a layer kept in FP16 actually computes with (round to nearest even; magnitudes
 * of 65520 and above become Infinity, below 2^-25 become zero).
 */
export function fp16Round(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = valueOfHalfBits(halfBitsOf(values[i]));
  return out;
}
