/**
 * Per-op-type layer latency regression in the manner of Neurosurgeon (Kang et al., ASPLOS 2017): for each op type,
 * latency = a * MACs + b * bytes + c, fitted by non-negative least squares on measured per-layer latencies, where
 * bytes = activation bytes read + written + weight bytes. Op types never measured fall back to a fit over all
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

const features = (s: Pick<LayerSample, 'macs' | 'bytes'>): number[] => [s.macs, s.bytes, 1];

/** Least squares over the chosen feature columns via the normal equations (3x3 at most), Gauss-Jordan. */
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

/** Non-negative least squares by dropping negative coefficients and refitting (3 features: exact enough). */
function fitNonNegative(samples: LayerSample[]): Coefficients {
  const xs = samples.map(features);
  const ys = samples.map((s) => s.latencyMs);
  let cols = [0, 1, 2].filter((c) => xs.some((x) => x[c] !== 0));
  for (;;) {
    const beta = leastSquares(xs, ys, cols);
    const bad = beta.findIndex((b) => !(b >= 0));
    if (bad < 0 || cols.length === 1) {
      const full = [0, 0, 0];
      cols.forEach((c, i) => (full[c] = Math.max(beta[i], 0) || 0));
      if (cols.length === 1 && !(beta[0] >= 0)) full[2] = median(ys);
      return { msPerMac: full[0], msPerByte: full[1], msFixed: full[2], samples: samples.length };
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
  return c.msPerMac * layer.macs + c.msPerByte * layer.bytes + c.msFixed;
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
