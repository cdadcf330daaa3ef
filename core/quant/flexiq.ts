/**
 * FlexiQ (Kim et al., arXiv 2510.02822) for Gemm/MatMul layers: channel-wise 4/8-bit mixing with bit-lowering and
 * nested channel sets, so the share of 4-bit input channels can change at run time. Pure: no runtime, no node:*.
 *
 * Notation, per layer: y[n] = sum_k x[k] * W[k, n] (+ bias[n]), K input channels (the reduction axis, the last axis
 * of the activation), N output channels.
 *
 * **8-bit grid (shared by every ratio).** W is quantized once, symmetric, per output channel n:
 *   scale[n] = max_k |W[k, n]| / 127,   code[k, n] = roundHalfToEven(W[k, n] / scale[n]) in [-127, 127]
 * (the conventions of weightQuant.ts). A per-output-channel grid is the finest one that does not depend on how the
 * K axis is ordered or split, which the mixed kernel needs: the 4-bit and 8-bit groups are arbitrary subsets of K.
 *
 * **Channel statistic and ranking.** range[k] = max|x[k]| (calibrated, streaming) * max_n |W[k, n]|: the largest
 * magnitude channel k can contribute to any output. Channels are ranked by range ascending (ties by index), and the
 * 4-bit set for ratio r% is the first lowCount(r) channels of that ranking, so the sets of increasing ratios are
 * nested and moving from one ratio to another moves one boundary per layer.
 *
 * **Bit-lowering.** An 8-bit code is a two's-complement byte b7..b0 (|code| <= 127). Channel k "never uses the top
 * s bits" when every code in its row satisfies |code[k, n]| < 2^(7-s): bits b7..b(7-s) are then copies of the sign.
 *   s[k]     = min(4, 7 - bitLength(max_n |code[k, n]|))          (bitLength(0) = 0, so an all-zero row gets 4)
 *   shift[k] = 4 - s[k]                                           (0..4)
 *   'truncate': code4[k, n] = code[k, n] >> shift[k]              (arithmetic shift: exactly bits b(7-s)..b(4-s),
 *                                                                  a 4-bit two's-complement value in [-8, 7])
 *   'nearest':  code4[k, n] = clamp(roundHalfToEven(code[k, n] / 2^shift[k]), -8, 7)
 *                                                                 (the same 4 bits, rounded on the dropped ones:
 *                                                                  error <= half of 2^shift code steps, except a
 *                                                                  code that rounds up to +8 saturates to 7)
 *   dequantized: W4[k, n] = code4[k, n] * 2^shift[k] * scale[n]
 * Instead of the top four bits (shift 4, what plain truncation to 4 bits keeps), a small-range channel keeps the four
 * bits under its unused ones; a channel with |code| < 8 (s = 4, shift 0) is represented exactly. 'nearest' is the
 * default because it halves the worst-case error and removes truncation's -0.5-step bias; 'truncate' is the literal
 * bit extraction, and that bias is ruinous in practice (fmnist-mlp, all channels 4-bit: 22.8% top-1 truncated vs
 * 87.1% rounded; FP32 87.5%).
 *
 * Note on the grid: with one scale per output channel, a row k only has unused high bits if all N of its codes are
 * small. For wide layers (fmnist-mlp fc1/fc2, N = 1024) every row hits |code| >= 64 somewhere, so s = 0 throughout
 * and bit-lowering reduces to rounding away the low four bits; it matters for narrow layers (fc3, N = 10).
 */
import { CoreError } from '../api/errors.js';
import { mulberry32 } from '../util/random.js';
import { quantizeWeights } from './weightQuant.js';

/** MatMulNBits' smallest block: each part of a split layer is a multiple of it, so ratio boundaries snap to it. */
export const FLEXIQ_BLOCK = 16;
/** The ratios (percent of 4-bit input channels) a FlexiQ run builds unless asked otherwise. */
export const FLEXIQ_DEFAULT_RATIOS: readonly number[] = [0, 25, 50, 75, 100];

export type LoweringRounding = 'nearest' | 'truncate';

/** Streaming per-channel statistics of an activation whose last axis is the channel: O(K) state. */
export class ChannelStatsObserver {
  private readonly maxAbs: Float32Array;
  private readonly sumSq: Float64Array;
  private rowCount = 0;

  constructor(readonly channels: number) {
    if (!Number.isInteger(channels) || channels < 1) throw new Error(`A channel observer needs a positive channel count, got ${channels}.`);
    this.maxAbs = new Float32Array(channels);
    this.sumSq = new Float64Array(channels);
  }

  /** `values` is row-major [..., channels]; non-finite values are skipped. */
  observe(values: Float32Array): void {
    const k = this.channels;
    if (values.length % k !== 0) throw new Error(`An activation of ${values.length} values is not a whole number of rows of ${k} channels.`);
    const { maxAbs, sumSq } = this;
    for (let i = 0; i < values.length; i += k) {
      for (let c = 0; c < k; c++) {
        const v = values[i + c];
        if (v - v !== 0) continue;
        const a = v < 0 ? -v : v;
        if (a > maxAbs[c]) maxAbs[c] = a;
        sumSq[c] += v * v;
      }
    }
    this.rowCount += values.length / k;
  }

  /** Rows (samples x positions) seen so far. */
  get rows(): number {
    return this.rowCount;
  }

  /** max |x[k]| per channel. */
  absMax(): Float32Array {
    return this.maxAbs.slice();
  }

  /** E[x[k]^2] per channel (0 before any row). */
  meanSquare(): Float64Array {
    const out = new Float64Array(this.channels);
    if (this.rowCount > 0) for (let c = 0; c < this.channels; c++) out[c] = this.sumSq[c] / this.rowCount;
    return out;
  }
}

/** A layer's weight on the shared 8-bit grid, rows = input channels. */
export interface FlexiqLayerQuant {
  /** Input channels (reduction axis) and output channels. */
  k: number;
  n: number;
  /** code[k * n + j] for input channel k, output channel j: symmetric 8-bit, in [-127, 127]. */
  codes: Int8Array;
  /** One float32 scale per output channel. */
  scales: Float32Array;
  /** max_j |W[k, j]| per input channel, in real units. */
  rowAbsMax: Float32Array;
  /** Unused high bits s[k] (0..4) of each input channel's 8-bit codes; shift[k] = 4 - s[k]. */
  unusedBits: Uint8Array;
}

/** Number of bits needed for a non-negative integer (bitLength(0) = 0). */
function bitLength(v: number): number {
  return v === 0 ? 0 : 32 - Math.clz32(v);
}

/** s = min(4, number of top bits of a two's-complement byte that only copy the sign), for codes with |code| <= maxAbs. */
export function unusedHighBits(maxAbsCode: number): number {
  if (!Number.isInteger(maxAbsCode) || maxAbsCode < 0 || maxAbsCode > 127) throw new Error(`An 8-bit code magnitude must be 0..127, got ${maxAbsCode}.`);
  return Math.min(4, 7 - bitLength(maxAbsCode));
}

/**
 * Quantizes a Gemm/MatMul weight on the 8-bit per-output-channel grid. `dims` is the stored shape and `channelAxis`
 * the output-channel axis (0 for Gemm with transB = 1, i.e. [N, K]; 1 for MatMul and Gemm without it, [K, N]).
 */
export function quantizeLayer8(values: Float32Array, dims: readonly number[], channelAxis: number): FlexiqLayerQuant {
  if (dims.length !== 2 || (channelAxis !== 0 && channelAxis !== 1)) throw new Error(`FlexiQ needs a 2-D weight with channel axis 0 or 1, got [${dims.join(', ')}] axis ${channelAxis}.`);
  const q = quantizeWeights(values, [...dims], { bits: 8, symmetric: true, granularity: 'channel', axis: channelAxis, clipping: 'none' });
  const [n, k] = channelAxis === 0 ? [dims[0], dims[1]] : [dims[1], dims[0]];
  const codes = new Int8Array(k * n);
  const rowAbsMax = new Float32Array(k);
  for (let r = 0; r < dims[0]; r++) {
    for (let c = 0; c < dims[1]; c++) {
      const [kk, nn] = channelAxis === 0 ? [c, r] : [r, c];
      codes[kk * n + nn] = q.codes[r * dims[1] + c];
      const a = Math.abs(values[r * dims[1] + c]);
      if (a > rowAbsMax[kk]) rowAbsMax[kk] = a;
    }
  }
  const unusedBits = new Uint8Array(k);
  for (let kk = 0; kk < k; kk++) {
    let m = 0;
    for (let j = 0; j < n; j++) m = Math.max(m, Math.abs(codes[kk * n + j]));
    unusedBits[kk] = unusedHighBits(m);
  }
  return { k, n, codes, scales: q.scales, rowAbsMax, unusedBits };
}

/** The 4-bit value of one 8-bit code under a right shift of `shift` bits (see the module comment). */
export function lowerCode(code: number, shift: number, rounding: LoweringRounding = 'nearest'): number {
  if (shift === 0) return Math.max(-8, Math.min(7, code));
  let v = code >> shift;
  if (rounding === 'truncate') return v;
  // Round half to even on the dropped bits, in integers: v = floor(code / 2^shift), rem = the dropped bits.
  const rem = code - (v << shift);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (v & 1) !== 0)) v++;
  return v > 7 ? 7 : v;
}

/** The 4-bit codes of input channel k (its row across the N outputs) and the power-of-two shift they are scaled by. */
export function lowerRow(q: FlexiqLayerQuant, k: number, rounding: LoweringRounding = 'nearest'): { codes4: Int8Array; shift: number } {
  const shift = 4 - q.unusedBits[k];
  const codes4 = new Int8Array(q.n);
  for (let j = 0; j < q.n; j++) codes4[j] = lowerCode(q.codes[k * q.n + j], shift, rounding);
  return { codes4, shift };
}

/** Every channel's 4-bit codes, [K, N] like `q.codes`, with the shift of each channel: what a writer packs. */
export function lowerAll(q: FlexiqLayerQuant, rounding: LoweringRounding = 'nearest'): { codes4: Int8Array; shifts: Uint8Array } {
  const codes4 = new Int8Array(q.k * q.n);
  const shifts = new Uint8Array(q.k);
  for (let k = 0; k < q.k; k++) {
    const shift = 4 - q.unusedBits[k];
    shifts[k] = shift;
    for (let j = 0, i = k * q.n; j < q.n; j++, i++) codes4[i] = lowerCode(q.codes[i], shift, rounding);
  }
  return { codes4, shifts };
}

/** range[k] = max|x[k]| * max|W[k, :]|: the FlexiQ channel statistic. */
export function channelRanges(actAbsMax: ArrayLike<number>, rowAbsMax: ArrayLike<number>): Float64Array {
  if (actAbsMax.length !== rowAbsMax.length) throw new Error(`${actAbsMax.length} activation channels but ${rowAbsMax.length} weight rows.`);
  const out = new Float64Array(actAbsMax.length);
  for (let k = 0; k < out.length; k++) out[k] = actAbsMax[k] * rowAbsMax[k];
  return out;
}

/** Channel indices sorted by `key` ascending, ties by index: deterministic. */
export function rankChannels(key: ArrayLike<number>): Int32Array {
  const idx = Array.from({ length: key.length }, (_, i) => i);
  idx.sort((a, b) => key[a] - key[b] || a - b);
  return Int32Array.from(idx);
}

/** Throws CoreError 'flexiq-ratio-invalid' unless 0 <= ratio <= 100. */
export function checkRatio(ratio: number): number {
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio < 0 || ratio > 100) {
    throw new CoreError('flexiq-ratio-invalid', `FlexiQ ratio ${String(ratio)} is not a percentage of 4-bit channels. Give a number from 0 to 100, e.g. 50.`);
  }
  return ratio;
}

/**
 * How many of K channels run at 4 bit for ratio% : round(ratio/100 * K) snapped to the nearest multiple of
 * FLEXIQ_BLOCK (so both parts fill whole MatMulNBits blocks when K is a multiple of 16); 0% is 0 and 100% is K.
 */
export function lowCountFor(ratio: number, k: number, block = FLEXIQ_BLOCK): number {
  checkRatio(ratio);
  if (ratio === 0) return 0;
  if (ratio === 100) return k;
  const snapped = Math.round(Math.round((ratio / 100) * k) / block) * block;
  return Math.max(0, Math.min(k, snapped));
}

/** The 4-bit channel set of one layer at ratio%: the first lowCount(ratio) channels of the ranking (nested sets). */
export function lowChannelsFor(ranking: ArrayLike<number>, ratio: number, block = FLEXIQ_BLOCK): number[] {
  return Array.from(ranking).slice(0, lowCountFor(ratio, ranking.length, block));
}

/** What writeFlexiqModel needs per layer. `lowChannels` is also the order the 4-bit group is gathered in. */
export interface FlexiqLayerPlan {
  name: string;
  /** Requested ratio in percent (for the record; the channel list is what counts). */
  ratio: number;
  lowChannels: number[];
}

export interface FlexiqPlan {
  layers: FlexiqLayerPlan[];
  /** How bit-lowering rounds (default 'nearest'). */
  rounding?: LoweringRounding;
  /** MatMulNBits accuracy_level: 4 = int8 activations inside the kernel (fast, the default); 1 = fp32 compute. */
  accuracyLevel?: 0 | 1 | 2 | 3 | 4;
}

/** One plan for a ratio from per-layer rankings. */
export function flexiqPlanFor(rankings: ReadonlyMap<string, ArrayLike<number>>, ratio: number, o: Omit<FlexiqPlan, 'layers'> = {}): FlexiqPlan {
  return { ...o, layers: [...rankings].map(([name, r]) => ({ name, ratio, lowChannels: lowChannelsFor(r, ratio) })) };
}

/**
 * Expected squared output error of moving channel k from 8 to 4 bit, assuming independent channels:
 * E[x_k^2] * sum_n (W4[k, n] - W8[k, n])^2. Used to propose swaps in the search, never as the score.
 */
export function loweringErrorProxy(q: FlexiqLayerQuant, meanSquare: ArrayLike<number>, rounding: LoweringRounding = 'nearest'): Float64Array {
  const out = new Float64Array(q.k);
  for (let k = 0; k < q.k; k++) {
    const { codes4, shift } = lowerRow(q, k, rounding);
    let e = 0;
    for (let j = 0; j < q.n; j++) {
      const d = (codes4[j] * 2 ** shift - q.codes[k * q.n + j]) * q.scales[j];
      e += d * d;
    }
    out[k] = meanSquare[k] * e;
  }
  return out;
}

export interface RankingSearchOptions {
  /** Candidate rankings to score (not counting the baseline). */
  steps: number;
  /** Ratio boundaries to move channels across (percent, 0 and 100 are ignored: the ranking does not matter there). */
  ratios: readonly number[];
  /** Channels moved per swap (a block of the worst-proxy low channels against the best-proxy high ones). */
  swapSize?: number;
  /** How far from the boundary (in channels) candidates are taken. */
  window?: number;
  seed?: number;
}

export interface RankingSearchResult {
  rankings: Map<string, Int32Array>;
  baselineScore: number;
  bestScore: number;
  /** Candidates scored (excluding the baseline) and how many were kept. */
  tried: number;
  accepted: number;
  /** Score after each step, for the record. */
  history: number[];
}

/**
 * Greedy swap search over the rankings (FlexiQ's selection refinement, in a small form of ours): each step picks a
 * layer and a boundary at random, moves the `swapSize` channels just below the boundary with the largest lowering
 * error proxy above it and the `swapSize` channels just above with the smallest proxy below it, and keeps the
 * candidate only if `score` (lower is better, measured on calibration data by the caller) strictly improves. Any
 * permutation keeps the sets nested, so every candidate is a valid FlexiQ ranking. The gain can be zero.
 */
export async function searchRankings(
  initial: ReadonlyMap<string, Int32Array>,
  proxies: ReadonlyMap<string, Float64Array>,
  score: (rankings: ReadonlyMap<string, Int32Array>) => Promise<number>,
  o: RankingSearchOptions,
): Promise<RankingSearchResult> {
  const rand = mulberry32(o.seed ?? 1);
  const mixed = o.ratios.filter((r) => r > 0 && r < 100);
  let current = new Map([...initial].map(([n, r]) => [n, r.slice()]));
  const baselineScore = await score(current);
  let best = baselineScore;
  let accepted = 0;
  let tried = 0;
  const history: number[] = [];
  const layers = [...current.keys()];
  for (let step = 0; step < o.steps && mixed.length > 0 && layers.length > 0; step++) {
    const name = layers[Math.floor(rand() * layers.length)];
    const ranking = current.get(name)!;
    const proxy = proxies.get(name)!;
    const b = lowCountFor(mixed[Math.floor(rand() * mixed.length)], ranking.length);
    const window = o.window ?? 64;
    const m = Math.min(o.swapSize ?? 4, b, ranking.length - b);
    if (m === 0) {
      history.push(best);
      continue;
    }
    const below = Array.from(ranking.subarray(Math.max(0, b - window), b));
    const above = Array.from(ranking.subarray(b, Math.min(ranking.length, b + window)));
    const out = [...below].sort((x, y) => proxy[y] - proxy[x] || x - y).slice(0, m);
    const inn = [...above].sort((x, y) => proxy[x] - proxy[y] || x - y).slice(0, m);
    const candidate = ranking.slice();
    const pos = new Map<number, number>();
    candidate.forEach((c, i) => pos.set(c, i));
    for (let i = 0; i < m; i++) {
      const a = pos.get(out[i])!;
      const c = pos.get(inn[i])!;
      candidate[a] = inn[i];
      candidate[c] = out[i];
    }
    const next = new Map(current);
    next.set(name, candidate);
    tried++;
    const s = await score(next);
    if (s < best) {
      best = s;
      current = next;
      accepted++;
    }
    history.push(best);
  }
  return { rankings: current, baselineScore, bestScore: best, tried, accepted, history };
}

/** Mean KL(p || q) over rows of two logit matrices [rows, classes] (softmax inside): the search's calibration score. */
export function meanKlDivergence(reference: Float32Array, candidate: Float32Array, classes: number): number {
  if (reference.length !== candidate.length || reference.length % classes !== 0) throw new Error('Logit matrices of different shapes.');
  const rows = reference.length / classes;
  let total = 0;
  const logSoftmax = (v: Float32Array, off: number, out: Float64Array): void => {
    let m = -Infinity;
    for (let c = 0; c < classes; c++) m = Math.max(m, v[off + c]);
    let s = 0;
    for (let c = 0; c < classes; c++) s += Math.exp(v[off + c] - m);
    const l = Math.log(s) + m;
    for (let c = 0; c < classes; c++) out[c] = v[off + c] - l;
  };
  const lp = new Float64Array(classes);
  const lq = new Float64Array(classes);
  for (let r = 0; r < rows; r++) {
    logSoftmax(reference, r * classes, lp);
    logSoftmax(candidate, r * classes, lq);
    for (let c = 0; c < classes; c++) total += Math.exp(lp[c]) * (lp[c] - lq[c]);
  }
  return total / rows;
}

/** Per-layer and overall share of 4-bit work of a plan; `shapes` gives each layer's K (inputs) and N (outputs). */
export function effectiveRatios(
  shapes: ReadonlyMap<string, { k: number; n: number }>,
  plan: Pick<FlexiqPlan, 'layers'>,
): { layers: { name: string; k: number; lowCount: number; effectiveRatio: number }[]; macShare: number } {
  let low = 0;
  let all = 0;
  const layers = plan.layers.map((l) => {
    const s = shapes.get(l.name);
    if (!s) throw new Error(`No shape for layer '${l.name}'.`);
    low += l.lowChannels.length * s.n;
    all += s.k * s.n;
    return { name: l.name, k: s.k, lowCount: l.lowChannels.length, effectiveRatio: (100 * l.lowChannels.length) / s.k };
  });
  return { layers, macShare: all > 0 ? (100 * low) / all : 0 };
}
