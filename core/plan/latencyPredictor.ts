/**
 * Per-op-type layer latency regression in the manner of Neurosurgeon (Kang et al., ASPLOS 2017): for each op type,
 * latency = a * MACs + b * bytes + s * sqrt(bytes) + c, fitted by least squares on relative error over measured
 * per-layer latencies (a, b >= 0; see fitNonNegative for s and c), where bytes = activation bytes read + written +
 * weight bytes. Op types never measured fall back to a fit over all
 * layers. Pure: fitting and prediction only; measurements come from core/run.
 */

export interface LayerSample {
  model?: string;
  opType: string;
  macs: number;
  bytes: number;
  latencyMs: number;
}

export interface Coefficients {
  msPerMac: number;
  msPerByte: number;
  /** Per square root of a byte: the sub-linear part of memory traffic (small tensors stay in cache). */
  msPerSqrtByte?: number;
  msFixed: number;
  samples: number;
}

export interface LatencyPredictor {
  byOpType: Record<string, Coefficients>;
  fallback: Coefficients;
}

export interface PredictionError {
  count: number;
  medianRelError: number;
  p90RelError: number;
}

const features = (s: Pick<LayerSample, 'macs' | 'bytes'>): number[] => [s.macs, s.bytes, Math.sqrt(s.bytes), 1];

/** Least squares over the chosen feature columns via the normal equations (4x4 at most), Gauss-Jordan. */
function leastSquares(xs: number[][], ys: number[], cols: number[]): number[] {
  const k = cols.length;
  // Column scaling keeps MACs (1e9) and the constant (1) on comparable scales.
  const scale = cols.map((c) => Math.max(...xs.map((x) => Math.abs(x[c])), 1e-30));
  const a = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  xs.forEach((x, r) => {
    // Weight rows by 1/y so the fit minimises relative, not absolute, error: big layers must not drown small ones.
    const w = 1 / Math.max(ys[r], 1e-6) ** 2;
    for (let i = 0; i < k; i++) {
      const xi = x[cols[i]] / scale[i];
      for (let j = 0; j < k; j++) a[i][j] += w * xi * (x[cols[j]] / scale[j]);
      a[i][k] += w * xi * ys[r];
    }
  });
  for (let i = 0; i < k; i++) {
    let p = i;
    for (let r = i + 1; r < k; r++) if (Math.abs(a[r][i]) > Math.abs(a[p][i])) p = r;
    [a[i], a[p]] = [a[p], a[i]];
    if (Math.abs(a[i][i]) < 1e-18) return new Array<number>(k).fill(Number.NaN);
    for (let r = 0; r < k; r++) {
      if (r === i) continue;
      const f = a[r][i] / a[i][i];
      for (let c = i; c <= k; c++) a[r][c] -= f * a[i][c];
    }
  }
  return a.map((row, i) => row[k] / row[i] / scale[i]);
}

/** Non-negative least squares by dropping negative coefficients and refitting (4 features: exact enough). */
function fitNonNegative(samples: LayerSample[]): Coefficients {
  const xs = samples.map(features);
  const ys = samples.map((s) => s.latencyMs);
  let cols = [0, 1, 2, 3].filter((c) => xs.some((x) => x[c] !== 0));
  for (;;) {
    const beta = leastSquares(xs, ys, cols);
    // MACs and bytes slopes must be non-negative (more work never predicts more speed). The square-root term and
    // the constant are free: measured small layers cost more per byte than a straight line through large ones
    // says (fixed per-op work that the runtime amortises as tensors grow), which a + b*x - c*sqrt(x) captures;
    // prediction keeps it monotone (predictLatencyMs). A negative square-root term needs a positive byte slope.
    let bad = beta.findIndex((b, i) => cols[i] < 2 && !(b >= 0));
    const sq = cols.indexOf(2);
    const lin = cols.indexOf(1);
    if (bad < 0 && sq >= 0 && beta[sq] < 0 && !(lin >= 0 && beta[lin] > 0)) bad = sq;
    if (bad < 0 || cols.length === 1) {
      const full = [0, 0, 0, 0];
      cols.forEach((c, i) => (full[c] = (c >= 2 ? beta[i] : Math.max(beta[i], 0)) || 0));
      if (cols.length === 1 && cols[0] !== 3 && !(beta[0] >= 0)) full[3] = median(ys);
      return { msPerMac: full[0], msPerByte: full[1], msPerSqrtByte: full[2], msFixed: full[3], samples: samples.length };
    }
    cols = cols.filter((_, i) => i !== bad);
  }
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2 : 0;
}

export function fitPredictor(samples: readonly LayerSample[]): LatencyPredictor {
  const groups = new Map<string, LayerSample[]>();
  for (const s of samples) {
    if (!(s.latencyMs > 0)) continue;
    const g = groups.get(s.opType) ?? [];
    g.push(s);
    groups.set(s.opType, g);
  }
  const byOpType: Record<string, Coefficients> = {};
  for (const [op, g] of groups) byOpType[op] = fitNonNegative(g);
  return { byOpType, fallback: fitNonNegative(samples.filter((s) => s.latencyMs > 0)) };
}

export function predictLatencyMs(p: LatencyPredictor, layer: Pick<LayerSample, 'opType' | 'macs' | 'bytes'>): number {
  const c = p.byOpType[layer.opType] ?? p.fallback;
  const sq = c.msPerSqrtByte ?? 0;
  // With a negative square-root term the curve dips before it rises; below its minimum, hold the minimum so the
  // prediction never falls as a layer grows.
  const bytes = sq < 0 && c.msPerByte > 0 ? Math.max(layer.bytes, (sq / (2 * c.msPerByte)) ** 2) : layer.bytes;
  const t = c.msPerMac * layer.macs + c.msPerByte * bytes + sq * Math.sqrt(bytes) + c.msFixed;
  // A free constant could take a layer far outside the measured ones below zero: floor it at a microsecond.
  return Math.max(t, 1e-3);
}

export function predictionError(p: LatencyPredictor, samples: readonly LayerSample[]): PredictionError {
  const rel = samples.filter((s) => s.latencyMs > 0).map((s) => Math.abs(predictLatencyMs(p, s) - s.latencyMs) / s.latencyMs);
  const sorted = rel.sort((a, b) => a - b);
  const q = (f: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(f * (sorted.length - 1) + 0.5))] : Number.NaN);
  return { count: sorted.length, medianRelError: q(0.5), p90RelError: q(0.9) };
}

/** Leave-one-model-out error: each model's layers predicted by a fit on the other models only (honest transfer). */
export function crossModelError(samples: readonly LayerSample[]): PredictionError {
  const models = [...new Set(samples.map((s) => s.model ?? ''))];
  const rel: number[] = [];
  for (const m of models) {
    const p = fitPredictor(samples.filter((s) => (s.model ?? '') !== m));
    for (const s of samples) if ((s.model ?? '') === m && s.latencyMs > 0) rel.push(Math.abs(predictLatencyMs(p, s) - s.latencyMs) / s.latencyMs);
  }
  const sorted = rel.sort((a, b) => a - b);
  const q = (f: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(f * (sorted.length - 1) + 0.5))] : Number.NaN);
  return { count: sorted.length, medianRelError: q(0.5), p90RelError: q(0.9) };
}
