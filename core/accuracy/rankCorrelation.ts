/**
 * Rank and linear correlation, used to validate the degradation estimators: over many random mixed-precision
 * configurations, how well does the predicted degradation order the measured one (SCIENCE.md, "Accuracy
 * degradation")?
 */

function checkPair(x: readonly number[], y: readonly number[]): void {
  if (x.length !== y.length) throw new Error(`Correlation needs equal-length samples, got ${x.length} and ${y.length}.`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]) || !Number.isFinite(y[i])) throw new Error(`Correlation needs finite values; pair ${i} is (${x[i]}, ${y[i]}).`);
  }
}

/**
 * Pearson's linear correlation coefficient in [-1, 1]. NaN when it is undefined: fewer than two points or a
 * constant sample. Computed from centred values (two passes) to avoid the cancellation of the one-pass formula.
 */
export function pearson(x: readonly number[], y: readonly number[]): number {
  checkPair(x, y);
  const n = x.length;
  if (n < 2) return Number.NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return Number.NaN;
  // Clamp: rounding can push |r| a hair above 1 for perfectly correlated data.
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** 1-based ranks; tied values all get the average of the ranks they span (the "fractional" ranking). */
export function averageRanks(x: readonly number[]): number[] {
  const order = x.map((_, i) => i).sort((a, b) => x[a] - x[b]);
  const ranks = new Array<number>(x.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && x[order[j + 1]] === x[order[i]]) j++;
    const rank = (i + j) / 2 + 1; // mean of the 1-based ranks i+1 .. j+1
    for (let k = i; k <= j; k++) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

/**
 * Spearman's rank correlation in [-1, 1]: Pearson's correlation of the average ranks, which handles ties correctly
 * (the 1 - 6 sum d^2 / (n (n^2 - 1)) shortcut does not). NaN when undefined (n < 2 or a constant sample).
 */
export function spearman(x: readonly number[], y: readonly number[]): number {
  checkPair(x, y);
  return pearson(averageRanks(x), averageRanks(y));
}
