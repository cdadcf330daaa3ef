import { describe, expect, it } from 'vitest';
import { isCoreError } from '../../core/api/errors.js';
import {
  WEIGHT_BITS,
  dequantizeWeights,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  fp16Round,
  groupIndexOf,
  groupShapeFor,
  quantizeWeights,
  roundHalfToEven,
  weightCodeRange,
  type WeightQuantSpec,
} from '../../core/quant/weightQuant.js';
import { dequantizeLinear } from '../../core/quant/calibration.js';
import { mulberry32 } from '../../core/util/random.js';

/** Standard normal samples (Box-Muller) from a seeded generator. */
function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function randomWeights(n: number, seed: number, gen: (r: () => number) => number = gaussian): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = gen(rand);
  return out;
}

function sse(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s;
}

const DIMS = [8, 6, 4];
const N = 8 * 6 * 4;
const GRANULARITIES: Array<Pick<WeightQuantSpec, 'granularity' | 'axis' | 'blockSize' | 'blockAxis'>> = [
  { granularity: 'tensor' },
  { granularity: 'channel' },
  { granularity: 'channel', axis: -1 },
  { granularity: 'block', blockSize: 2 },
  { granularity: 'block', blockSize: 3, blockAxis: 1 },
];

function expectCoreError(fn: () => unknown, code: string): string {
  try {
    fn();
  } catch (e) {
    expect(isCoreError(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    const message = (e as Error).message;
    expect(message).toMatch(/^[A-Z].*\.$/s);
    return message;
  }
  throw new Error(`expected CoreError ${code}`);
}

describe('quantizeWeights / dequantizeWeights', () => {
  const values = randomWeights(N, 1);
  // Exact zeros sprinkled in, so zero-exactness is checked in every configuration.
  for (let i = 0; i < N; i += 17) values[i] = 0;

  for (const bits of WEIGHT_BITS) {
    for (const symmetric of [true, false]) {
      for (const g of GRANULARITIES) {
        const label = `${bits} bit, ${symmetric ? 'sym' : 'asym'}, ${JSON.stringify(g)}`;
        it(`error <= scale/2, codes in range, zero exact: ${label}`, () => {
          const spec: WeightQuantSpec = { bits, symmetric, clipping: 'none', ...g };
          const q = quantizeWeights(values, DIMS, spec);
          const deq = dequantizeWeights(q);
          const { qmin, qmax } = weightCodeRange(bits, symmetric);
          expect(q.scales.length).toBe(q.groupCount);
          const bad: string[] = [];
          for (let i = 0; i < N; i++) {
            const scale = q.scales[groupIndexOf(q.groupShape, i)];
            if (q.codes[i] < qmin || q.codes[i] > qmax) bad.push(`code ${q.codes[i]} at ${i}`);
            // Half a step, plus float32 rounding of the scale and of the product.
            if (Math.abs(values[i] - deq[i]) > (scale / 2) * (1 + 1e-6) + 1e-7 * Math.abs(values[i])) bad.push(`error at ${i}: ${values[i]} -> ${deq[i]}, scale ${scale}`);
            if (values[i] === 0 && deq[i] !== 0) bad.push(`zero at ${i} -> ${deq[i]}`);
          }
          expect(bad).toEqual([]);
          for (let k = 0; k < q.groupCount; k++) {
            if (symmetric) expect(q.zeroPoints[k]).toBe(0);
            else expect(q.zeroPoints[k] >= 0 && q.zeroPoints[k] <= qmax).toBe(true);
          }
        });
      }
    }
  }

  it('dequantizes exactly like ONNX DequantizeLinear, group by group', () => {
    const q = quantizeWeights(values, DIMS, { bits: 4, symmetric: false, granularity: 'channel', clipping: 'none' });
    const deq = dequantizeWeights(q);
    const per = N / 8;
    for (let c = 0; c < 8; c++) {
      const ref = dequantizeLinear(q.codes.subarray(c * per, (c + 1) * per), q.scales[c], q.zeroPoints[c]);
      expect(Array.from(deq.subarray(c * per, (c + 1) * per))).toEqual(Array.from(ref));
    }
  });

  it('re-quantizing the dequantized weights with the same scales gives the same codes', () => {
    const q = quantizeWeights(values, DIMS, { bits: 3, symmetric: true, granularity: 'block', blockSize: 4, clipping: 'mse' });
    const deq = dequantizeWeights(q);
    for (let i = 0; i < N; i++) {
      const g = groupIndexOf(q.groupShape, i);
      expect(roundHalfToEven(Math.fround(deq[i] / q.scales[g])) + q.zeroPoints[g]).toBe(q.codes[i]);
    }
  });

  it('lays groups out as ONNX expects scales (per-channel 1-D, blocked: dims with the block axis divided)', () => {
    const dims = [3, 4, 6];
    const block = groupShapeFor(dims, { bits: 4, symmetric: true, granularity: 'block', blockSize: 2, blockAxis: 1, clipping: 'none' });
    expect(block.scaleDims).toEqual([3, 2, 6]);
    const channel = groupShapeFor(dims, { bits: 4, symmetric: true, granularity: 'channel', axis: 1, clipping: 'none' });
    expect(channel.scaleDims).toEqual([4]);
    expect(groupShapeFor(dims, { bits: 4, symmetric: true, granularity: 'block', blockSize: 3, clipping: 'none' }).scaleDims).toEqual([3, 4, 2]);
    for (let i = 0; i < 3 * 4 * 6; i++) {
      const [a, b, c] = [Math.floor(i / 24), Math.floor(i / 6) % 4, i % 6];
      expect(groupIndexOf(block, i)).toBe((a * 2 + Math.floor(b / 2)) * 6 + c);
      expect(groupIndexOf(channel, i)).toBe(b);
    }
  });

  it('per-channel beats per-tensor when channel ranges differ', () => {
    // 8 output channels whose magnitudes span 1e-3 .. 1e1.
    const w = randomWeights(N, 2);
    const per = N / 8;
    for (let c = 0; c < 8; c++) for (let i = 0; i < per; i++) w[c * per + i] *= 10 ** (c / 2 - 3);
    for (const bits of WEIGHT_BITS) {
      const base = { bits, symmetric: true, clipping: 'none' } as const;
      const dt = dequantizeWeights(quantizeWeights(w, DIMS, { ...base, granularity: 'tensor' }));
      const dc = dequantizeWeights(quantizeWeights(w, DIMS, { ...base, granularity: 'channel' }));
      expect(sse(w, dc)).toBeLessThan(sse(w, dt));
      // The small channels gain most: per tensor they round to 0, per channel they keep most of their energy.
      expect(sse(w.subarray(0, per), dc.subarray(0, per))).toBeLessThan(sse(w.subarray(0, per), dt.subarray(0, per)) / (bits >= 4 ? 10 : 1.5));
    }
  });

  it('MSE clipping is never worse than round-to-nearest, and strictly better on heavy tails', () => {
    const student3 = (r: () => number): number => {
      // Student-t with 3 degrees of freedom: heavy tails like real weight matrices' outliers.
      const z = gaussian(r);
      const chi2 = gaussian(r) ** 2 + gaussian(r) ** 2 + gaussian(r) ** 2;
      return z / Math.sqrt(chi2 / 3);
    };
    const dims = [16, 64];
    for (const [seed, gen] of [[3, gaussian], [4, student3]] as const) {
      const w = randomWeights(16 * 64, seed, gen);
      for (const bits of WEIGHT_BITS) {
        for (const symmetric of [true, false]) {
          for (const g of [{ granularity: 'tensor' }, { granularity: 'channel' }, { granularity: 'block', blockSize: 32 }] as const) {
            const spec = { bits, symmetric, ...g };
            const rtn = quantizeWeights(w, dims, { ...spec, clipping: 'none' });
            const mse = quantizeWeights(w, dims, { ...spec, clipping: 'mse' });
            const eRtn = sse(w, dequantizeWeights(rtn));
            const eMse = sse(w, dequantizeWeights(mse));
            expect(eMse).toBeLessThanOrEqual(eRtn);
            if (gen === student3 && bits <= 6) expect(eMse).toBeLessThan(eRtn);
            if (gen === student3 && bits <= 4 && g.granularity === 'tensor') expect(eMse).toBeLessThan(eRtn * 0.8);
          }
        }
      }
    }
  });

  it('handles all-zero groups, constant groups and empty tensors', () => {
    const w = new Float32Array([0, 0, 0, 0, 5, 5, 5, 5]);
    for (const symmetric of [true, false]) {
      const q = quantizeWeights(w, [2, 4], { bits: 2, symmetric, granularity: 'channel', clipping: 'mse' });
      expect(Array.from(dequantizeWeights(q))).toEqual([0, 0, 0, 0, 5, 5, 5, 5]);
      expect(q.scales[0]).toBeGreaterThan(0);
    }
    const empty = quantizeWeights(new Float32Array(0), [0, 4], { bits: 4, symmetric: false, granularity: 'channel', axis: 1, clipping: 'none' });
    expect(empty.groupCount).toBe(4);
    expect(dequantizeWeights(empty).length).toBe(0);
  });

  it('rejects unsupported specs with actionable CoreErrors', () => {
    const w = new Float32Array(12);
    const ok = { bits: 4, symmetric: true, granularity: 'tensor', clipping: 'none' } as const;
    expect(expectCoreError(() => quantizeWeights(w, [3, 4], { ...ok, bits: 7 as never }), 'quant-bits-unsupported')).toBe(
      'Bit width 7 is not supported. Use 2, 3, 4, 5, 6 or 8 (or keep the layer in FP32/FP16).',
    );
    expect(expectCoreError(() => quantizeWeights(w, [3, 4], { ...ok, granularity: 'block', blockSize: 0 }), 'quant-block-size-invalid')).toContain('0');
    expect(expectCoreError(() => quantizeWeights(w, [3, 4], { ...ok, granularity: 'block' }), 'quant-block-size-invalid')).toContain('undefined');
    const msg = expectCoreError(() => quantizeWeights(w, [3, 4], { ...ok, granularity: 'block', blockSize: 3 }), 'quant-block-size-invalid');
    expect(msg).toContain('Block size 3 does not divide the length 4');
    expect(msg).toContain('2 or 4');
    expect(expectCoreError(() => quantizeWeights(w, [3, 4], { ...ok, granularity: 'channel', axis: 2 }), 'quant-axis-out-of-range')).toContain('Channel axis 2');
    expectCoreError(() => quantizeWeights(w, [3, 4], { ...ok, granularity: 'block', blockSize: 1, blockAxis: -3 }), 'quant-axis-out-of-range');
    expectCoreError(() => quantizeWeights(new Float32Array(1), [], { ...ok, granularity: 'channel' }), 'quant-axis-out-of-range');
    expectCoreError(() => quantizeWeights(w, [3, 4], { ...ok, granularity: 'row' as never }), 'quant-granularity-unsupported');
    expectCoreError(() => quantizeWeights(w, [3, 4], { ...ok, clipping: 'kl' as never }), 'quant-clipping-unsupported');
    const nan = new Float32Array(12);
    nan[5] = Number.NaN;
    expect(expectCoreError(() => quantizeWeights(nan, [3, 4], ok), 'quant-non-finite-weight')).toContain('element 5 is NaN');
    // A dims/values mismatch is a caller bug, not a user error.
    expect(() => quantizeWeights(w, [5, 4], ok)).toThrow(/describe 20 elements/);
  });
});

describe('roundHalfToEven', () => {
  it('rounds exact halves to the even neighbour and everything else to nearest', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999999, 2.5000001, -3.5, 7].map(roundHalfToEven)).toEqual([0, 2, 2, -0, -2, -2, 2, 3, -4, 7]);
  });
});

describe('fp16Round', () => {
  it('rounds known values to nearest even and handles overflow, subnormals and NaN', () => {
    const x = new Float32Array([1 / 3, 65504, 65519, 65520, -70000, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 1e-8, Number.NaN, -0]);
    const r = fp16Round(x);
    expect(r[0]).toBe(0.333251953125);
    expect(r[1]).toBe(65504);
    expect(r[2]).toBe(65504);
    expect(r[3]).toBe(Infinity);
    expect(r[4]).toBe(-Infinity);
    expect(r[5]).toBe(1); // tie: 1 is even
    expect(r[6]).toBe(1 + 2 ** -9); // tie: rounds up to the even mantissa
    expect(r[7]).toBe(2 ** -24); // smallest subnormal
    expect(r[8]).toBe(0); // tie between 0 and 2^-24: 0 is even
    expect(r[9]).toBe(2 ** -23);
    expect(r[10]).toBe(0);
    expect(Number.isNaN(r[11])).toBe(true);
    expect(Object.is(r[12], -0)).toBe(true);
  });

  it('agrees with a nearest-value search over every finite FP16 value', () => {
    const all = new Uint16Array(0x7c00);
    for (let i = 0; i < all.length; i++) all[i] = i;
    const table = float16BitsToFloat32(all); // ascending, 0 .. 65504
    const rand = mulberry32(5);
    const xs = new Float32Array(20000);
    for (let i = 0; i < xs.length; i++) {
      const mag = 2 ** (rand() * 44 - 28); // 2^-28 .. 2^16
      xs[i] = (rand() < 0.5 ? -1 : 1) * mag;
    }
    const r = fp16Round(xs);
    const bits = float32ToFloat16Bits(xs);
    const back = float16BitsToFloat32(bits);
    const bad: string[] = [];
    for (let i = 0; i < xs.length; i++) {
      const a = Math.abs(xs[i]);
      let expected: number;
      if (a >= 65520) expected = Infinity;
      else {
        let lo = 0;
        let hi = table.length - 1;
        while (hi - lo > 1) {
          const mid = (lo + hi) >> 1;
          if (table[mid] <= a) lo = mid;
          else hi = mid;
        }
        const dLo = a - table[lo];
        const dHi = table[hi] - a;
        expected = dLo < dHi ? table[lo] : dHi < dLo ? table[hi] : lo % 2 === 0 ? table[lo] : table[hi];
        if (a >= table[table.length - 1]) expected = table[table.length - 1];
      }
      if (Math.abs(r[i]) !== expected || back[i] !== r[i]) bad.push(`${xs[i]} -> ${r[i]} (bits ${back[i]}), expected ${expected}`);
    }
    expect(bad).toEqual([]);
  });
});
