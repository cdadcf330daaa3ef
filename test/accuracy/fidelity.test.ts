import { describe, expect, it } from 'vitest';
import { isCoreError } from '../../core/api/errors.js';
import { klDivergence, sqnrDb, top1Agreement } from '../../core/accuracy/fidelity.js';
import { averageRanks, pearson, spearman } from '../../core/accuracy/rankCorrelation.js';
import { mulberry32 } from '../../core/util/random.js';

const rand = mulberry32(41);
const LOGITS = Float32Array.from({ length: 50 * 10 }, () => rand() * 20 - 10);

describe('fidelity measures', () => {
  it('are perfect for identical outputs', () => {
    expect(top1Agreement(LOGITS, LOGITS, 10)).toBe(1);
    expect(klDivergence(LOGITS, LOGITS, 10)).toBe(0);
    expect(sqnrDb(LOGITS, LOGITS)).toBe(Infinity);
  });

  it('match hand-computed values', () => {
    // Rows 0 and 2 agree on the top class, row 1 does not.
    expect(top1Agreement([1, 2, 3, 5, 0, 0, 0, 9, 1], [0, 1, 2, 0, 5, 0, 1, 8, 7], 3)).toBeCloseTo(2 / 3, 15);
    // softmax([0, 0]) = [1/2, 1/2], softmax([0, ln 3]) = [1/4, 3/4]: KL = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3).
    expect(klDivergence([0, 0], [0, Math.log(3)], 2)).toBeCloseTo(0.5 * Math.log(4 / 3), 14);
    // The mean over rows: a second identical row halves it.
    expect(klDivergence([0, 0, 1, 2], [0, Math.log(3), 1, 2], 2)).toBeCloseTo(0.25 * Math.log(4 / 3), 14);
    // Signal 1 + 4 = 5, noise 1: 10 log10 5.
    expect(sqnrDb([1, 2], [1, 1])).toBeCloseTo(10 * Math.log10(5), 12);
  });

  it('KL is stable for huge logits, shift-invariant, and infinite where q rules out what p allows', () => {
    const shifted = Array.from(LOGITS, (v, i) => v + 1000 * (1 + Math.floor(i / 10)));
    expect(klDivergence(shifted, LOGITS, 10)).toBeCloseTo(0, 9);
    expect(klDivergence([1e4, 0], [0, 1e4], 2)).toBeCloseTo(1e4, 6);
    expect(klDivergence([0, 0], [0, -Infinity], 2)).toBe(Infinity);
    expect(klDivergence([0, -Infinity], [0, 0], 2)).toBeCloseTo(Math.log(2), 14);
  });

  it('KL grows and SQNR falls as noise grows', () => {
    const noisy = (amp: number): Float32Array => {
      const r = mulberry32(7);
      return LOGITS.map((v) => v + amp * (r() - 0.5));
    };
    const kls = [0.01, 0.1, 1].map((a) => klDivergence(LOGITS, noisy(a), 10));
    const snrs = [0.01, 0.1, 1].map((a) => sqnrDb(LOGITS, noisy(a)));
    expect(kls[0]).toBeLessThan(kls[1]);
    expect(kls[1]).toBeLessThan(kls[2]);
    expect(snrs[0]).toBeGreaterThan(snrs[1] + 19); // 10x the noise amplitude = -20 dB
    expect(snrs[1]).toBeGreaterThan(snrs[2] + 19);
  });

  it('reject mismatched outputs with a CoreError', () => {
    for (const fn of [() => top1Agreement([1, 2, 3], [1, 2], 1), () => klDivergence([1, 2, 3], [1, 2, 3], 2), () => sqnrDb([1], [1, 2])]) {
      try {
        fn();
        throw new Error('expected a CoreError');
      } catch (e) {
        expect(isCoreError(e) && e.code).toBe('fidelity-shape-mismatch');
      }
    }
    expect(() => top1Agreement([], [], 3)).toThrow(/no output rows/);
  });
});

describe('rank correlation', () => {
  const x = Array.from({ length: 40 }, () => rand() * 10 - 5);

  it('spearman is 1 for a monotone transform and -1 for a reversing one', () => {
    expect(spearman(x, x.map((v) => Math.exp(v) + v ** 3))).toBeCloseTo(1, 14);
    expect(spearman(x, x.map((v) => -(v ** 5)))).toBeCloseTo(-1, 14);
    expect(pearson(x, x.map((v) => 3 * v - 2))).toBeCloseTo(1, 14);
    expect(pearson(x, x.map((v) => -v))).toBeCloseTo(-1, 14);
  });

  it('handles ties with average ranks (hand-computed example)', () => {
    expect(averageRanks([10, 20, 20, 30, 20])).toEqual([1, 3, 3, 5, 3]);
    // Ranks [1, 2.5, 2.5, 4] and [1, 3, 2, 4]: cov 4.5, variances 4.5 and 5, rho = 4.5 / sqrt(22.5) = sqrt(0.9).
    expect(spearman([1, 2, 2, 3], [1, 3, 2, 4])).toBeCloseTo(Math.sqrt(0.9), 14);
    // Pearson by hand: x = [1, 2, 3], y = [1, 3, 2] -> cov 1, variances 2 and 2 -> 0.5.
    expect(pearson([1, 2, 3], [1, 3, 2])).toBeCloseTo(0.5, 15);
  });

  it('is NaN when undefined and rejects bad input', () => {
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(pearson([1], [2])).toBeNaN();
    expect(() => spearman([1, 2], [1])).toThrow(/equal-length/);
    expect(() => pearson([1, Number.NaN], [1, 2])).toThrow(/finite/);
  });
});
