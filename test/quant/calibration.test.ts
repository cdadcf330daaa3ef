import { describe, expect, it } from 'vitest';
import { isCoreError } from '../../core/api/errors.js';
import {
  MinMaxObserver,
  MseObserver,
  PercentileObserver,
  activationQParams,
  dequantizeLinear,
  fakeQuantize,
  quantizeLinear,
  type RangeObserver,
} from '../../core/quant/calibration.js';
import { mulberry32 } from '../../core/util/random.js';

function gaussians(n: number, seed: number, scale = 1, shift = 0): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = shift + scale * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return out;
}

function chunked(obs: RangeObserver, data: Float32Array, seed: number): RangeObserver {
  // Irregular chunk sizes, the smallest first, so the histogram range has to grow along the way.
  const rand = mulberry32(seed);
  for (let i = 0; i < data.length; ) {
    const n = 1 + Math.floor(rand() * 3000);
    obs.observe(data.subarray(i, i + n));
    i += n;
  }
  return obs;
}

function expectCoreError(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(isCoreError(e) && e.code).toBe(code);
    expect((e as Error).message).toMatch(/^[A-Z].*\.$/s);
    return;
  }
  throw new Error(`expected CoreError ${code}`);
}

function mse(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
}

// ReLU-like data with a skewed tail and a few large outliers: the case calibration exists for.
const DATA = (() => {
  const g = gaussians(100_000, 21, 1, 0.5);
  for (let i = 0; i < g.length; i++) if (g[i] < 0 && i % 3 !== 0) g[i] = 0;
  for (let i = 0; i < 6; i++) g[1000 + 15_000 * i] = 40 + i;
  g[7] = -25;
  return g;
})();

describe('streaming observers', () => {
  it('give the same range from one big array as from many small chunks', () => {
    const one = new MinMaxObserver();
    one.observe(DATA);
    expect(chunked(new MinMaxObserver(), DATA, 1).range(8)).toEqual(one.range(8));
    expect(one.range(8)).toEqual({ min: -25, max: 45 });

    for (const make of [() => new PercentileObserver(99.9), () => new MseObserver(256)]) {
      const big = make();
      big.observe(DATA);
      const small = chunked(make(), DATA, 2);
      expect(small.count).toBe(DATA.length);
      for (const [bits, symmetric] of [[8, false], [4, false], [8, true]] as const) {
        const a = big.range(bits, symmetric);
        const b = small.range(bits, symmetric);
        // The doubling histogram is chunking-invariant, so this is in fact exact.
        expect(Math.abs(a.min - b.min)).toBeLessThanOrEqual(big.binWidth);
        expect(Math.abs(a.max - b.max)).toBeLessThanOrEqual(big.binWidth);
        expect(b).toEqual(a);
      }
    }
  });

  it('keep a constant state size over 10,000 chunks of 1,000 values', () => {
    const pool = Array.from({ length: 16 }, (_, k) => gaussians(1000, 100 + k, 2 ** (k % 5)));
    const big = gaussians(1000, 99, 1e4);
    for (const obs of [new MinMaxObserver(), new PercentileObserver(), new MseObserver()] as RangeObserver[]) {
      obs.observe(pool[0]);
      const size = obs.stateSize();
      for (let c = 1; c < 10_000; c++) obs.observe(c === 5000 ? big : pool[c % 16]);
      expect(obs.count).toBe(10_000_000);
      expect(obs.stateSize()).toBe(size);
      expect(size).toBeLessThanOrEqual(2048 + 8);
    }
  });

  it('percentile observer matches the exact sample percentile within a bin and ignores outliers', () => {
    const obs = new PercentileObserver(99.99);
    obs.observe(DATA);
    const sorted = Float32Array.from(DATA).sort();
    const exact = (f: number): number => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))];
    const r = obs.range(8);
    expect(Math.abs(r.max - exact(0.9999))).toBeLessThanOrEqual(obs.binWidth);
    expect(Math.abs(r.min - exact(0.0001))).toBeLessThanOrEqual(obs.binWidth);
    expect(r.max).toBeLessThan(6); // the outliers at 40..45 are ignored
    expect(r.min).toBeGreaterThan(-5); // and so is the one at -25
    const sym = obs.range(8, true);
    expect(sym.min).toBe(-sym.max);
    expect(sym.max).toBeLessThan(6);
    // p = 100 is the max, to one bin.
    const all = new PercentileObserver(100);
    all.observe(DATA);
    expect(Math.abs(all.range(8).max - 45)).toBeLessThanOrEqual(all.binWidth);
  });

  it('MSE observer clips the outliers at low bit widths and so beats min/max on measured error', () => {
    const minMax = new MinMaxObserver();
    minMax.observe(DATA);
    const obs = new MseObserver();
    obs.observe(DATA);
    for (const bits of [4, 6, 8]) {
      for (const symmetric of [false, true]) {
        const err = (range: { min: number; max: number }): number => {
          const p = activationQParams(range, bits, symmetric);
          return mse(DATA, fakeQuantize(DATA, p.scale, p.zeroPoint, bits, symmetric));
        };
        const r = obs.range(bits, symmetric);
        expect(r.max).toBeLessThan(45);
        expect(err(r)).toBeLessThan(err(minMax.range(bits)));
      }
    }
    // On plain uniform data at 8 bit there is almost nothing to clip: the range stays within 1% of the full one.
    const rand = mulberry32(5);
    const uniform = Float32Array.from({ length: 50_000 }, () => rand() * 6 - 2);
    const u = new MseObserver();
    u.observe(uniform);
    const ur = u.range(8);
    expect(ur.max).toBeGreaterThan(4 - 0.06);
    expect(ur.min).toBeLessThan(-2 + 0.06);
  });

  it('skip non-finite values, handle all-zero data and refuse an empty range', () => {
    for (const make of [() => new MinMaxObserver(), () => new PercentileObserver(), () => new MseObserver()]) {
      const obs = make();
      expectCoreError(() => obs.range(8), 'calibration-empty');
      obs.observe(new Float32Array([Number.NaN, Infinity]));
      expectCoreError(() => obs.range(8), 'calibration-empty');
      obs.observe(new Float32Array([0, 0, -0]));
      expect(obs.count).toBe(3);
      expect(obs.range(8)).toEqual({ min: 0, max: 0 });
      expect(activationQParams(obs.range(8), 8, false)).toEqual({ scale: 1, zeroPoint: 0 });
    }
    expectCoreError(() => new PercentileObserver(30), 'calibration-percentile-invalid');
    expectCoreError(() => new MseObserver(1000.5), 'calibration-bins-invalid');
    expectCoreError(() => new MseObserver().range(1), 'quant-bits-unsupported');
  });
});

describe('activationQParams', () => {
  it('follows the ONNX uint8 / int8 conventions', () => {
    const f = Math.fround;
    expect(activationQParams({ min: -1, max: 3 }, 8, false)).toEqual({ scale: f(4 / 255), zeroPoint: 64 }); // 63.75 -> 64
    expect(activationQParams({ min: 2, max: 5 }, 8, false)).toEqual({ scale: f(5 / 255), zeroPoint: 0 }); // widened to [0, 5]
    expect(activationQParams({ min: -6, max: -2 }, 8, false)).toEqual({ scale: f(6 / 255), zeroPoint: 255 });
    expect(activationQParams({ min: 3, max: 3 }, 8, false)).toEqual({ scale: f(3 / 255), zeroPoint: 0 });
    expect(activationQParams({ min: 0, max: 0 }, 8, true)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(activationQParams({ min: -2, max: 1 }, 8, true)).toEqual({ scale: f(2 / 127), zeroPoint: 0 });
    // -min / scale uses the float32 scale: 1 / float32(2/15) = 7.4999996, so 7 (not the 8 exact arithmetic gives).
    expect(activationQParams({ min: -1, max: 1 }, 4, false)).toEqual({ scale: f(2 / 15), zeroPoint: 7 });
    // Exact ties round half to even: -min / scale = 1.5 -> 2 and 0.5 -> 0.
    expect(activationQParams({ min: -1.5, max: 1.5 }, 2, false)).toEqual({ scale: 1, zeroPoint: 2 });
    expect(activationQParams({ min: -0.5, max: 2.5 }, 2, false)).toEqual({ scale: 1, zeroPoint: 0 });
    expectCoreError(() => activationQParams({ min: 1, max: 0 }, 8, false), 'calibration-range-invalid');
    expectCoreError(() => activationQParams({ min: 0, max: Number.NaN }, 8, false), 'calibration-range-invalid');
    expectCoreError(() => activationQParams({ min: 0, max: 1 }, 17, false), 'quant-bits-unsupported');
  });

  it('makes 0 exact and bounds the in-range error by scale/2', () => {
    const rand = mulberry32(8);
    const bad: string[] = [];
    for (let t = 0; t < 200; t++) {
      const min = -rand() * 10 * (t % 4 === 0 ? 0 : 1);
      const max = rand() * 10;
      const bits = 2 + (t % 7);
      const symmetric = t % 2 === 0;
      const p = activationQParams({ min, max }, bits, symmetric);
      if (fakeQuantize([0], p.scale, p.zeroPoint, bits, symmetric)[0] !== 0) bad.push(`0 not exact (${JSON.stringify(p)})`);
      const xs = Float32Array.from({ length: 50 }, () => min + rand() * (max - min));
      const fq = fakeQuantize(xs, p.scale, p.zeroPoint, bits, symmetric);
      for (let i = 0; i < xs.length; i++) if (Math.abs(xs[i] - fq[i]) > (p.scale / 2) * (1 + 1e-6)) bad.push(`${xs[i]} -> ${fq[i]} (${JSON.stringify(p)})`);
    }
    expect(bad).toEqual([]);
  });
});

describe('fakeQuantize (ONNX QuantizeLinear -> DequantizeLinear)', () => {
  it('matches a hand-computed uint8 case, ties rounding half to even', () => {
    // scale 0.5, zero point 10: x/scale = 0.5 -> 0, 1.5 -> 2, -0.5 -> 0, 2.5 -> 2 (half to even), then + 10, saturate.
    const x = [0.25, 0.75, -0.25, 1.25, 1.3, 200, -10, Number.NaN, -Infinity];
    expect(Array.from(quantizeLinear(x, 0.5, 10, 8, false))).toEqual([10, 12, 10, 12, 13, 255, 0, 0, 0]);
    expect(Array.from(fakeQuantize(x, 0.5, 10, 8, false))).toEqual([0, 1, 0, 1, 1.5, 122.5, -5, -5, -5]);
  });

  it('saturates signed codes to the full int range', () => {
    expect(Array.from(quantizeLinear([-1000, -12.75, 12.75, 1000], 0.1, 0, 8, true))).toEqual([-128, -128, 127, 127]);
    expect(Array.from(quantizeLinear([-1000, 1000, 0.25], 0.5, 0, 4, true))).toEqual([-8, 7, 0]);
  });

  it('divides in float32 as ORT does before rounding', () => {
    // In double, x / s = 2.50000003725..., which rounds to 3; in float32 the quotient is exactly 2.5, which ORT
    // (float32 division, round half to even) turns into 2.
    const s = Math.fround(0.10000070184469223);
    const x = Math.fround(0.2500017583370209);
    expect(x / s).toBeGreaterThan(2.5);
    expect(Math.fround(x / s)).toBe(2.5);
    expect(quantizeLinear([x], s, 0, 8, true)[0]).toBe(2);
    expect(dequantizeLinear([2], s, 0)[0]).toBe(Math.fround(2 * s));
  });

  it('is idempotent', () => {
    const xs = gaussians(1000, 31, 3);
    const p = activationQParams({ min: -4, max: 5 }, 8, false);
    const once = fakeQuantize(xs, p.scale, p.zeroPoint, 8, false);
    expect(Array.from(fakeQuantize(once, p.scale, p.zeroPoint, 8, false))).toEqual(Array.from(once));
  });
});
