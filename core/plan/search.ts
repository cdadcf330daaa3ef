/**
 * The exact search behind every planner entry point (solve, infeasibility analysis, Pareto front, baselines, the
 * offline plan table). shared/SCIENCE.md, "The solver": for a fixed cut c and activation option a, choosing the
 * bits of the head is a multiple-choice knapsack (MCKP): one option per head layer, a goal that is a sum of
 * per-option coefficients plus a constant of (c, a), and up to three knapsack rows (degradation; latency when an
 * SLO is set; memory when enforced), each also a sum of per-option weights plus a constant of (c, a). The cut and
 * the activation option are an outer loop.
 *
 * Everything here is linear in the five plan quantities of planCost.ts ([latencyMs, energyJ, costUsd, degradation,
 * deviceMemoryBytes]), so the same code minimises the objective, or one constraint's quantity under the others
 * (infeasibility analysis), or a sum of relative violations.
 *
 * Why the answer is optimal (for the model, to 1e-12 relative in the goal):
 * 1. Options dominated in (goal coefficient, every row weight) are removed per layer: replacing a dominated option
 *    by its dominator never makes a plan worse or infeasible.
 * 2. Outer loop: every (c, a) gets a lower bound = its constant + the best single-row Lagrangian bound (the exact
 *    LP relaxation of the MCKP with that one row, from per-layer lower convex hulls). Candidates are solved in
 *    increasing bound order and the loop stops once a bound reaches the incumbent.
 * 3. Per (c, a): Lagrange multipliers lam >= 0 for all rows (coordinate ascent, each step an exact 1-D
 *    maximisation; any lam >= 0 gives a valid bound lb), a greedy repair for a first incumbent, then a bounded
 *    dynamic program (below) with a trial cutoff lb + delta: options whose reduced cost at lam is >= delta are fixed
 *    out, states whose bound is >= the trial cutoff are dropped. If the program finds a plan under the trial cutoff
 *    it is the subproblem's optimum (anything better would have survived every test); otherwise delta doubles until
 *    the trial cutoff reaches the incumbent, which proves nothing better exists.
 * 4. The dynamic program (Nemhauser-Ullmann with bounds) adds the free layers one at a time and keeps the partial
 *    sums (g, w) that are not dominated (lower or equal g and every w) and pass
 *      - feasibility: w_k + (lightest remaining w_k) <= r_k for every row k;
 *      - the Lagrangian bound: g0 + g + lam.(w - r) + sum_rem min_j (g_j + lam.w_j);
 *      - for each row k, the exact LP bound of the remaining layers under row k, the other rows priced at lam:
 *        g0 + g + sum_{j!=k} lam_j (w_j - r_j) + phi_k(r_k - w_k), phi_k(cap) = min LP goal (g + sum_{j!=k}
 *        lam_j w_j) of the remaining layers with sum w_k <= cap (a convex piecewise-linear function read off the
 *        sorted hull breakpoints of the remaining layers).
 * 5. Internally rows are tested with a slack of 1e-11 of their magnitude (a superset of the feasible plans, so the
 *    bounds stay valid); a complete plan becomes the incumbent only after `evaluatePlan` recomputes it and it meets
 *    the rows exactly as planCost defines them. The returned plan is therefore the one `evaluatePlan` computes and
 *    its feasibility is the one the brute force checks.
 */
import type { Plan, PlanningProblem } from '../api/planning.js';
import { evaluatePlan, linearValue, planQuantities, satisfies, type LinearConstraint } from './planCost.js';

export interface PlanChoice {
  cut: number;
  bits: readonly number[];
  activationBits: number | null;
}

export interface SearchSpec {
  /** Coefficients over planCost's QUANTITIES; minimised. */
  goal: readonly number[];
  /** Rows coef . quantities <= cap + tol (a handful at most; usually the problem's own). */
  constraints: readonly LinearConstraint[];
  /** Restrict the cut positions (default: all). */
  cuts?: readonly number[];
  /** A plan known beforehand (e.g. the optimum at a tighter budget): if it is feasible it starts as the incumbent. */
  hint?: PlanChoice | null;
}

export interface SearchStats {
  /** (cut, activation) pairs considered. */
  candidates: number;
  /** (cut, activation) pairs that had to be searched (not pruned by their bound). */
  subproblems: number;
  /** Dynamic-programming states generated over all subproblems. */
  nodes: number;
}

export interface SearchResult {
  plan: Plan | null;
  /** goal . quantities(plan); Infinity when no plan meets the rows. */
  value: number;
  stats: SearchStats;
}

/** A branch must be this much (relative) below the incumbent to be kept: ties cannot improve it. */
const PRUNE_REL = 1e-12;
/** Internal slack on the rows, relative to their magnitude (the exact test happens in evaluatePlan). */
const ROW_SLACK_REL = 1e-11;
const MAX_ASCENT_ROUNDS = 8;
/** Several rows: a new state is compared with this many recently kept states for dominance. */
const DOMINANCE_WINDOW = 16;

interface Candidate {
  cut: number;
  act: number | null;
  g0: number;
  /** Residual capacity of each row for the head layers (cap + slack - constant of (c, a)). */
  r: Float64Array;
  lb: number;
  lambda: Float64Array;
}

type CutOptionT = PlanningProblem['cuts'][number]['options'][number];

/** Plan quantities that depend only on the cut and the activation option (tSrv = server time of layers > c). */
function cutQuantities(problem: PlanningProblem, cut: number, tSrv: number, act: CutOptionT | null): number[] {
  const peak = problem.cuts[cut].peakActivationBytes;
  if (act === null) return [0, 0, 0, 0, peak];
  const { link, device } = problem;
  const tUp = link.rttMs / 2 + (act.bytes * 8 / link.uplinkBps) * 1000;
  const tRes = link.rttMs / 2 + (problem.resultBytes * 8 / link.downlinkBps) * 1000;
  return [
    tUp + tSrv + tRes,
    (device.powerTxW * tUp + device.powerRxW * tRes + device.powerIdleW * tSrv) / 1000,
    problem.server.pricePerSecondUsd * tSrv / 1000,
    act.degradation,
    peak,
  ];
}

/**
 * Lower convex hull walk for min_j (v_j + t * w_j) over t >= 0, on the options idx[from..from+n): starts at the
 * argmin of v (ties: smallest w) and moves to options of smaller w at nondecreasing breakpoints t. Calls push(t, dw)
 * per breakpoint; returns the position (from..) of the start option.
 */
function hullWalk(v: ArrayLike<number>, w: ArrayLike<number>, n: number, push: (t: number, dw: number) => void): number {
  let cur = 0;
  for (let j = 1; j < n; j++) if (v[j] < v[cur] || (v[j] === v[cur] && w[j] < w[cur])) cur = j;
  const start = cur;
  for (;;) {
    let next = -1;
    let bestT = Infinity;
    for (let j = 0; j < n; j++) {
      if (!(w[j] < w[cur])) continue;
      const t = (v[j] - v[cur]) / (w[cur] - w[j]);
      if (t < bestT || (t === bestT && w[j] < w[next])) {
        bestT = t;
        next = j;
      }
    }
    if (next < 0) return start;
    push(Math.max(bestT, 0), w[cur] - w[next]);
    cur = next;
  }
}

/** src[idx[0]], src[idx[1]], ... (typed-array `from` with a mapping function is slow in V8). */
function permute(src: readonly number[], idx: readonly number[]): Float64Array {
  const out = new Float64Array(idx.length);
  for (let x = 0; x < idx.length; x++) out[x] = src[idx[x]];
  return out;
}

function permuteInt(src: readonly number[], idx: readonly number[]): Int32Array {
  const out = new Int32Array(idx.length);
  for (let x = 0; x < idx.length; x++) out[x] = src[idx[x]];
  return out;
}

/** Indices 0..n-1 sorted by key (ascending). */
function sortedIndices(key: ArrayLike<number>, n: number): number[] {
  const idx = new Array<number>(n);
  for (let x = 0; x < n; x++) idx[x] = x;
  return idx.sort((x, y) => key[x] - key[y]);
}

export function search(problem: PlanningProblem, spec: SearchSpec): SearchResult {
  const L = problem.layers.length;
  const rows = spec.constraints;
  const m = rows.length;
  const stats: SearchStats = { candidates: 0, subproblems: 0, nodes: 0 };
  const allowedW = problem.constraints.allowedBits ? new Set<number>(problem.constraints.allowedBits) : null;
  const allowedA = problem.constraints.allowedActivationBits ? new Set<number>(problem.constraints.allowedActivationBits) : null;

  // ---------------------------------------------------------------------------------------------------------------
  // Compile the layers into flat arrays: allowed options, their goal coefficient g and row weights w (m per option),
  // dominance-pruned. A layer left without an allowed option can only run on the server: the cut stays before it.
  let maxCut = L;
  const layerStart: number[] = [];
  const layerCount: number[] = [];
  const gList: number[] = [];
  const wList: number[] = [];
  const bitsList: number[] = [];
  const goal = spec.goal;
  const cached = problem.constraints.headCached;
  const down = problem.link.downlinkBps;
  const rx = problem.device.powerRxW;
  const q = new Float64Array(5);
  const tg: number[] = [];
  const tw: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < L; i++) {
    tg.length = 0;
    tw.length = 0;
    tb.length = 0;
    for (const o of problem.layers[i].options) {
      if (allowedW && !allowedW.has(o.bits)) continue;
      // The per-layer terms of planCost.ts's formulas: [latency, energy, cost, degradation, memory].
      const dl = cached ? 0 : (o.weightBytes * 8 / down) * 1000;
      q[0] = dl + o.deviceTimeMs;
      q[1] = o.deviceEnergyJ + rx * dl / 1000;
      q[2] = 0;
      q[3] = o.degradation;
      q[4] = o.weightBytes;
      tg.push(linearValue(goal, q));
      for (const row of rows) tw.push(linearValue(row.coef, q));
      tb.push(o.bits);
    }
    const n = tg.length;
    if (n === 0) {
      maxCut = i;
      break;
    }
    // a dominates b: a.g <= b.g and a.w <= b.w in every row; of two equal options the first is kept.
    const dom = (a: number, b: number): boolean => {
      if (tg[a] > tg[b]) return false;
      for (let k = 0; k < m; k++) if (tw[a * m + k] > tw[b * m + k]) return false;
      return true;
    };
    layerStart.push(gList.length);
    let kept = 0;
    for (let b2 = 0; b2 < n; b2++) {
      let dominated = false;
      for (let a2 = 0; a2 < n && !dominated; a2++) if (a2 !== b2 && dom(a2, b2) && (!dom(b2, a2) || a2 < b2)) dominated = true;
      if (dominated) continue;
      kept++;
      gList.push(tg[b2]);
      for (let k = 0; k < m; k++) wList.push(tw[b2 * m + k]);
      bitsList.push(tb[b2]);
    }
    layerCount.push(kept);
  }
  const N = gList.length;
  const optG = Float64Array.from(gList);
  const optW = Float64Array.from(wList);
  const optBits = Int32Array.from(bitsList);
  let maxOpts = 1;
  for (const n of layerCount) maxOpts = Math.max(maxOpts, n);

  // Prefix sums over layers of the per-layer minima (feasibility and bounds for every cut at once).
  const prefMinG = new Float64Array(maxCut + 1);
  const prefMinW = new Float64Array((maxCut + 1) * m);
  const scaleW = new Float64Array(m);
  for (let i = 0; i < maxCut; i++) {
    const s0 = layerStart[i];
    const n = layerCount[i];
    let mg = Infinity;
    for (let j = s0; j < s0 + n; j++) mg = Math.min(mg, optG[j]);
    prefMinG[i + 1] = prefMinG[i] + mg;
    for (let k = 0; k < m; k++) {
      let mw = Infinity;
      let mx = 0;
      for (let j = s0; j < s0 + n; j++) {
        mw = Math.min(mw, optW[j * m + k]);
        mx = Math.max(mx, Math.abs(optW[j * m + k]));
      }
      prefMinW[(i + 1) * m + k] = prefMinW[i * m + k] + mw;
      scaleW[k] += mx;
    }
  }

  const vbuf = new Float64Array(maxOpts);
  const wbuf = new Float64Array(maxOpts);

  // Single-row LP bounds: per row, each layer's hull from its argmin-g option; all breakpoints sorted once.
  const single = Array.from({ length: m }, (_, k) => {
    const prefArgW = new Float64Array(maxCut + 1);
    const segLayer: number[] = [];
    const segT: number[] = [];
    const segDw: number[] = [];
    for (let i = 0; i < maxCut; i++) {
      const s0 = layerStart[i];
      const n = layerCount[i];
      for (let q = 0; q < n; q++) {
        vbuf[q] = optG[s0 + q];
        wbuf[q] = optW[(s0 + q) * m + k];
      }
      const start = hullWalk(vbuf, wbuf, n, (t, dw) => {
        segLayer.push(i);
        segT.push(t);
        segDw.push(dw);
      });
      prefArgW[i + 1] = prefArgW[i] + wbuf[start];
    }
    const order = sortedIndices(segT, segT.length);
    return { prefArgW, layer: permuteInt(segLayer, order), t: permute(segT, order), dw: permute(segDw, order) };
  });
  /** max over t >= 0 of sum_{i<c} min_j (g + t w_k) - t r, minus prefMinG[c]: the gain of row k's LP bound. */
  const singleGain = (k: number, c: number, r: number): { gain: number; t: number } => {
    const s = single[k];
    let d = s.prefArgW[c] - r;
    if (d <= 0) return { gain: 0, t: 0 };
    let t = 0;
    let gain = 0;
    for (let j = 0; j < s.t.length; j++) {
      if (s.layer[j] >= c) continue;
      gain += d * (s.t[j] - t);
      t = s.t[j];
      d -= s.dw[j];
      if (d <= 0) return { gain, t };
    }
    return { gain: Infinity, t: Infinity };
  };

  // ---------------------------------------------------------------------------------------------------------------
  // Candidates (c, a) with their constants, residual capacities and lower bounds.
  const srvSuffix = new Float64Array(L + 1);
  for (let i = L - 1; i >= 0; i--) srvSuffix[i] = srvSuffix[i + 1] + problem.layers[i].serverTimeMs;
  const cutList = spec.cuts
    ? [...new Set(spec.cuts)].filter((c) => Number.isInteger(c) && c >= 0 && c <= maxCut).sort((x, y) => x - y)
    : Array.from({ length: maxCut + 1 }, (_, c) => c);
  const cands: Candidate[] = [];
  for (const c of cutList) {
    const acts: (CutOptionT | null)[] = c < L ? problem.cuts[c].options.filter((o) => !allowedA || allowedA.has(o.bits)) : [null];
    for (const a of acts) {
      stats.candidates++;
      const k0 = cutQuantities(problem, c, srvSuffix[c], a);
      const r = new Float64Array(m);
      let feasible = true;
      for (let k = 0; k < m; k++) {
        const w0 = linearValue(rows[k].coef, k0);
        const slack = rows[k].tol + ROW_SLACK_REL * (Math.abs(rows[k].cap) + scaleW[k] + Math.abs(w0));
        r[k] = rows[k].cap + slack - w0;
        if (prefMinW[c * m + k] > r[k]) feasible = false;
      }
      if (!feasible) continue;
      const g0 = linearValue(spec.goal, k0);
      const lambda = new Float64Array(m);
      let bestGain = 0;
      for (let k = 0; k < m && feasible; k++) {
        const { gain, t } = singleGain(k, c, r[k]);
        if (gain === Infinity) feasible = false;
        else if (gain > bestGain) {
          bestGain = gain;
          lambda.fill(0);
          lambda[k] = t;
        }
      }
      if (feasible) cands.push({ cut: c, act: a ? a.bits : null, g0, r, lb: g0 + prefMinG[c] + bestGain, lambda });
    }
  }
  cands.sort((x, y) => x.lb - y.lb);

  // ---------------------------------------------------------------------------------------------------------------
  // Incumbent.
  let bestValue = Infinity;
  let bestPlan: Plan | null = null;
  const cutoff = (): number => (bestValue === Infinity ? Infinity : bestValue - PRUNE_REL * Math.abs(bestValue));
  /** Exact test of a complete plan; it becomes the incumbent if it meets every row and improves the goal. */
  const offer = (cut: number, bits: readonly number[], act: number | null): void => {
    const plan = evaluatePlan(problem, cut, bits, act);
    const q = planQuantities(plan);
    for (const row of rows) if (!satisfies(q, row)) return;
    const value = linearValue(spec.goal, q);
    if (value < bestValue) {
      bestValue = value;
      bestPlan = plan;
    }
  };
  if (spec.hint) {
    const h = spec.hint;
    const ok =
      cutList.includes(h.cut) &&
      h.bits.length === h.cut &&
      h.bits.every((b, i) => (!allowedW || allowedW.has(b)) && problem.layers[i].options.some((o) => o.bits === b)) &&
      (h.cut === L
        ? h.activationBits === null
        : h.activationBits !== null && (!allowedA || allowedA.has(h.activationBits)) && problem.cuts[h.cut].options.some((o) => o.bits === h.activationBits));
    if (ok) offer(h.cut, h.bits, h.activationBits);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Per-subproblem scratch (sized for the largest head).
  const rc = new Float64Array(N);
  /** Per layer, its option indices sorted by reduced cost (ties: lighter first), at layerStart[i]. */
  const order = new Int32Array(N);
  const keptCount = new Int32Array(maxCut);
  const segT = new Float64Array(N + 1);
  const segDw = new Float64Array(N + 1);
  const lagV = new Float64Array(N);

  /** Lagrangian dual value for the head 0..c-1 at multipliers lam. */
  const dual = (cand: Candidate, lam: Float64Array): number => {
    let s = cand.g0;
    for (let k = 0; k < m; k++) s -= lam[k] * cand.r[k];
    for (let i = 0; i < cand.cut; i++) {
      let mv = Infinity;
      for (let j = layerStart[i], e = j + layerCount[i]; j < e; j++) {
        let v = optG[j];
        for (let k = 0; k < m; k++) v += lam[k] * optW[j * m + k];
        if (v < mv) mv = v;
      }
      s += mv;
    }
    return s;
  };

  /** Sets lam[k] to its best value with the other multipliers fixed (exact walk of the hull breakpoints). */
  const ascend = (cand: Candidate, lam: Float64Array, k: number): void => {
    let count = 0;
    let d0 = -cand.r[k];
    const push = (t: number, dw: number): void => {
      segT[count] = t;
      segDw[count] = dw;
      count++;
    };
    for (let i = 0; i < cand.cut; i++) {
      const s0 = layerStart[i];
      const n = layerCount[i];
      for (let q = 0; q < n; q++) {
        let v = optG[s0 + q];
        for (let kk = 0; kk < m; kk++) if (kk !== k) v += lam[kk] * optW[(s0 + q) * m + kk];
        vbuf[q] = v;
        wbuf[q] = optW[(s0 + q) * m + k];
      }
      d0 += wbuf[hullWalk(vbuf, wbuf, n, push)];
    }
    if (d0 <= 0) {
      lam[k] = 0;
      return;
    }
    const idx = sortedIndices(segT, count);
    for (const s of idx) {
      d0 -= segDw[s];
      if (d0 <= 0) {
        lam[k] = segT[s];
        return;
      }
    }
  };

  /**
   * Heuristic incumbents (never needed for correctness, only for speed): from a start assignment, repair the rows
   * greedily (the move with the least goal increase per unit of normalised violation removed; ties: the larger
   * removal), then improve the goal by single moves that keep every row. Starts: the Lagrangian argmin and, with
   * several rows, the assignment lightest in the normalised rows.
   */
  const greedy = (cand: Candidate): void => {
    const c = cand.cut;
    const norm = new Float64Array(m);
    for (let k = 0; k < m; k++) norm[k] = Math.max(Math.abs(cand.r[k]), scaleW[k] / Math.max(1, c), 1e-300);
    const starts: Int32Array[] = [Int32Array.from({ length: c }, (_, i) => order[layerStart[i]])];
    if (m >= 2) {
      starts.push(
        Int32Array.from({ length: c }, (_, i) => {
          let best = layerStart[i];
          let bestU = Infinity;
          for (let j = layerStart[i], e = j + layerCount[i]; j < e; j++) {
            let u = 0;
            for (let k = 0; k < m; k++) u += optW[j * m + k] / norm[k];
            if (u < bestU || (u === bestU && optG[j] < optG[best])) {
              bestU = u;
              best = j;
            }
          }
          return best;
        }),
      );
    }
    const used = new Float64Array(m);
    const violation = (k: number, u: number): number => Math.max(0, u - cand.r[k]) / norm[k];
    for (const choice of starts) {
      used.fill(0);
      for (let i = 0; i < c; i++) for (let k = 0; k < m; k++) used[k] += optW[choice[i] * m + k];
      let feasible = false;
      for (let iter = 0; iter <= 2 * c + 2; iter++) {
        let v0 = 0;
        for (let k = 0; k < m; k++) v0 += violation(k, used[k]);
        if (v0 === 0) {
          feasible = true;
          break;
        }
        let bestScore = Infinity;
        let bestGain = 0;
        let bi = -1;
        let bj = -1;
        for (let i = 0; i < c; i++) {
          const cur = choice[i];
          for (let j = layerStart[i], e = j + layerCount[i]; j < e; j++) {
            if (j === cur) continue;
            let v1 = 0;
            for (let k = 0; k < m; k++) v1 += violation(k, used[k] + optW[j * m + k] - optW[cur * m + k]);
            const gain = v0 - v1;
            if (!(gain > 0)) continue;
            const score = (optG[j] - optG[cur]) / gain;
            if (score < bestScore || (score === bestScore && gain > bestGain)) {
              bestScore = score;
              bestGain = gain;
              bi = i;
              bj = j;
            }
          }
        }
        if (bi < 0) break;
        for (let k = 0; k < m; k++) used[k] += optW[bj * m + k] - optW[choice[bi] * m + k];
        choice[bi] = bj;
      }
      if (!feasible) continue;
      // Improvement: the single move with the largest goal decrease that keeps every row, until none is left.
      for (let iter = 0; iter <= c; iter++) {
        let bestDg = 0;
        let bi = -1;
        let bj = -1;
        for (let i = 0; i < c; i++) {
          const cur = choice[i];
          for (let j = layerStart[i], e = j + layerCount[i]; j < e; j++) {
            const dg = optG[j] - optG[cur];
            if (!(dg < bestDg)) continue;
            let ok = true;
            for (let k = 0; k < m && ok; k++) if (used[k] + optW[j * m + k] - optW[cur * m + k] > cand.r[k]) ok = false;
            if (ok) {
              bestDg = dg;
              bi = i;
              bj = j;
            }
          }
        }
        if (bi < 0) break;
        for (let k = 0; k < m; k++) used[k] += optW[bj * m + k] - optW[choice[bi] * m + k];
        choice[bi] = bj;
      }
      let g = cand.g0;
      for (let i = 0; i < c; i++) g += optG[choice[i]];
      if (g < cutoff()) offer(c, Array.from(choice, (j) => optBits[j]), cand.act);
    }
  };

  /**
   * Whether two rows cannot be met together even in the LP relaxation: for each ordered pair (k, j), the LP minimum
   * of row j's weight subject to row k (hull walk) exceeds row j's capacity. Coordinate ascent cannot see this.
   */
  const lpInfeasible = (cand: Candidate): boolean => {
    for (let k = 0; k < m; k++) {
      for (let jr = 0; jr < m; jr++) {
        if (jr === k) continue;
        let count = 0;
        let value = 0;
        let need = -cand.r[k];
        const push = (t: number, dw: number): void => {
          segT[count] = t;
          segDw[count] = dw;
          count++;
        };
        for (let i = 0; i < cand.cut; i++) {
          const s0 = layerStart[i];
          const n = layerCount[i];
          for (let q = 0; q < n; q++) {
            vbuf[q] = optW[(s0 + q) * m + jr];
            wbuf[q] = optW[(s0 + q) * m + k];
          }
          const start = hullWalk(vbuf, wbuf, n, push);
          value += vbuf[start];
          need += wbuf[start];
        }
        if (need > 0) {
          const idx = sortedIndices(segT, count);
          for (const x of idx) {
            const take = Math.min(segDw[x], need);
            value += take * segT[x];
            need -= take;
            if (need <= 0) break;
          }
          if (need > 0) return true;
        }
        if (value > cand.r[jr]) return true;
      }
    }
    return false;
  };

  const solveCandidate = (cand: Candidate): void => {
    const c = cand.cut;
    stats.subproblems++;
    if (c === 0) {
      stats.nodes++;
      for (let k = 0; k < m; k++) if (cand.r[k] < 0) return;
      if (cand.g0 < cutoff()) offer(0, [], cand.act);
      return;
    }
    // Root multipliers: the best single-row multiplier, then coordinate ascent over all rows.
    const lam = Float64Array.from(cand.lambda);
    let lb = dual(cand, lam);
    if (m >= 2) {
      const trial = new Float64Array(m);
      for (let round = 0; round < MAX_ASCENT_ROUNDS; round++) {
        const before = lb;
        for (let k = 0; k < m; k++) {
          trial.set(lam);
          ascend(cand, trial, k);
          const v = dual(cand, trial);
          if (v > lb) {
            lb = v;
            lam.set(trial);
          }
        }
        if (!(lb > before + 1e-12 * Math.abs(before))) break;
      }
    }
    if (lb >= cutoff()) return;

    // Reduced costs at lam; per layer the options sorted by reduced cost (ties: lighter in the rows first).
    for (let i = 0; i < c; i++) {
      const s0 = layerStart[i];
      const n = layerCount[i];
      let mv = Infinity;
      for (let j = s0; j < s0 + n; j++) {
        let v = optG[j];
        let use = 0;
        for (let k = 0; k < m; k++) {
          v += lam[k] * optW[j * m + k];
          if (scaleW[k] > 0) use += optW[j * m + k] / scaleW[k];
        }
        rc[j] = v;
        lagV[j] = use;
        if (v < mv) mv = v;
      }
      for (let j = s0; j < s0 + n; j++) {
        rc[j] -= mv;
        // insertion sort of the layer's options by (rc, use)
        let p = j;
        while (p > s0 && (rc[order[p - 1]] > rc[j] || (rc[order[p - 1]] === rc[j] && lagV[order[p - 1]] > lagV[j]))) {
          order[p] = order[p - 1];
          p--;
        }
        order[p] = j;
      }
    }

    if (m >= 2 && lpInfeasible(cand)) return;
    if (bestValue === Infinity) greedy(cand);
    if (lb >= cutoff()) return;

    let delta = Math.max(1e-9 * Math.abs(lb), 1e-300);
    delta = Math.max(delta, Number.isFinite(cutoff()) ? (cutoff() - lb) / 64 : 1e-4 * Math.abs(lb));
    for (;;) {
      const trial = Math.min(cutoff(), lb + delta);
      // Reduced-cost fixing at the trial gap: sorted by rc, the kept options are a prefix.
      const gap = trial - lb;
      let excluded = false;
      for (let i = 0; i < c; i++) {
        const s0 = layerStart[i];
        let n = 1;
        while (n < layerCount[i] && rc[order[s0 + n]] < gap) n++;
        keptCount[i] = n;
        if (n < layerCount[i]) excluded = true;
      }
      const before = bestValue;
      const pruned = dynamicProgram(cand, lam, () => Math.min(trial, cutoff()));
      if (bestValue < before || trial >= cutoff() || !(pruned || excluded)) return;
      delta *= 2;
    }
  };

  // DP buffers, grown on demand.
  let bufG = new Float64Array(1024);
  let bufW = new Float64Array(1024 * Math.max(1, m));
  let bufP = new Int32Array(1024);
  let bufC = new Int32Array(1024);
  const grow = (size: number): void => {
    if (bufG.length >= size) return;
    const n = Math.max(size, bufG.length * 2);
    bufG = new Float64Array(n);
    bufW = new Float64Array(n * Math.max(1, m));
    bufP = new Int32Array(n);
    bufC = new Int32Array(n);
  };

  /**
   * The bounded dynamic program over the free layers of one (c, a) (see the header, point 4), with the kept options
   * of `keptCount`. Offers the best complete plan under limit(); returns whether anything was dropped by a bound.
   */
  const dynamicProgram = (cand: Candidate, lam: Float64Array, limit: () => number): boolean => {
    const c = cand.cut;
    const r = cand.r;
    const fixedW = new Float64Array(m);
    let fixedG = 0;
    const freeList: number[] = [];
    for (let i = 0; i < c; i++) {
      if (keptCount[i] >= 2) {
        freeList.push(i);
        continue;
      }
      const j = order[layerStart[i]];
      fixedG += optG[j];
      for (let k = 0; k < m; k++) fixedW[k] += optW[j * m + k];
    }
    // Layers with fewer kept options first: the state sets grow late.
    freeList.sort((x, y) => keptCount[x] - keptCount[y] || x - y);
    const free = Int32Array.from(freeList);
    const n = free.length;

    // Suffix minima over the free layers (feasibility).
    const sufMinW = new Float64Array((n + 1) * m);
    for (let d = n - 1; d >= 0; d--) {
      const i = free[d];
      const s0 = layerStart[i];
      for (let k = 0; k < m; k++) {
        let mw = Infinity;
        for (let q = 0; q < keptCount[i]; q++) mw = Math.min(mw, optW[order[s0 + q] * m + k]);
        sufMinW[d * m + k] = sufMinW[(d + 1) * m + k] + mw;
      }
    }
    // Lagrangian minimum per layer (rc = v - min v, so v = rc + minV).
    let lamR = 0;
    for (let k = 0; k < m; k++) lamR += lam[k] * r[k];
    const minV = new Float64Array(c);
    for (let i = 0; i < c; i++) {
      const j = order[layerStart[i]];
      let v = optG[j];
      for (let k = 0; k < m; k++) v += lam[k] * optW[j * m + k];
      minV[i] = v - rc[j];
    }
    const sufMinV = new Float64Array(n + 1);
    for (let d = n - 1; d >= 0; d--) sufMinV[d] = sufMinV[d + 1] + minV[free[d]];

    // LP functions of the remaining free layers, each for one row k and a linear goal h over the options: hull
    // breakpoints of every free layer sorted by t, suffix sums of the hull starts; F_d(cap) = min LP h of layers at
    // depth >= d subject to their row-k weight <= cap, read off the breakpoints of those layers (rebuilt per depth).
    const makeLp = (k: number, h: (j: number) => number) => {
      const startG = new Float64Array(n + 1);
      const startW = new Float64Array(n + 1);
      const t: number[] = [];
      const dw: number[] = [];
      const depth: number[] = [];
      for (let d = n - 1; d >= 0; d--) {
        const i = free[d];
        const s0 = layerStart[i];
        const cnt = keptCount[i];
        for (let q = 0; q < cnt; q++) {
          const j = order[s0 + q];
          vbuf[q] = h(j);
          wbuf[q] = optW[j * m + k];
        }
        const start = hullWalk(vbuf, wbuf, cnt, (tt, ddw) => {
          t.push(tt);
          dw.push(ddw);
          depth.push(d);
        });
        startG[d] = startG[d + 1] + vbuf[start];
        startW[d] = startW[d + 1] + wbuf[start];
      }
      const idx = sortedIndices(t, t.length);
      return {
        startG,
        startW,
        t: permute(t, idx),
        dw: permute(dw, idx),
        depth: permuteInt(depth, idx),
        qt: new Float64Array(idx.length),
        qDw: new Float64Array(idx.length),
        qCost: new Float64Array(idx.length),
        qLen: 0,
      };
    };
    type Lp = ReturnType<typeof makeLp>;
    // phi[k]: goal g + sum_{j!=k} lam_j w_j (the bound); psi[k][j]: goal w_j (LP feasibility of rows k and j together).
    const phi: Lp[] = [];
    const psi: (Lp | null)[][] = [];
    for (let k = 0; k < m; k++) {
      phi.push(
        makeLp(k, (j) => {
          let v = optG[j];
          for (let kk = 0; kk < m; kk++) if (kk !== k) v += lam[kk] * optW[j * m + kk];
          return v;
        }),
      );
      psi.push(Array.from({ length: m }, (_, jr) => (jr === k ? null : makeLp(k, (j) => optW[j * m + jr]))));
    }
    const allLps: Lp[] = [...phi, ...psi.flat().filter((x): x is Lp => x !== null)];
    const buildLps = (d: number): void => {
      for (const P of allLps) {
        let len = 0;
        let sd = 0;
        let sc = 0;
        for (let x = 0; x < P.t.length; x++) {
          if (P.depth[x] < d) continue;
          sd += P.dw[x];
          sc += P.dw[x] * P.t[x];
          P.qt[len] = P.t[x];
          P.qDw[len] = sd;
          P.qCost[len] = sc;
          len++;
        }
        P.qLen = len;
      }
    };
    /** F_d(cap) of the suffix the LP was last built for (Infinity if even the LP cannot fit). */
    const lpAt = (P: Lp, d: number, cap: number): number => {
      const need = P.startW[d] - cap;
      if (need <= 0) return P.startG[d];
      const len = P.qLen;
      if (len === 0 || P.qDw[len - 1] < need) return Infinity;
      let lo = 0;
      let hi = len - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (P.qDw[mid] >= need) hi = mid;
        else lo = mid + 1;
      }
      const prevDw = lo > 0 ? P.qDw[lo - 1] : 0;
      const prevCost = lo > 0 ? P.qCost[lo - 1] : 0;
      return P.startG[d] + prevCost + (need - prevDw) * P.qt[lo];
    };
    /** Rows k and j cannot both be met by any completion of a state with row weights w (LP test). */
    const pairInfeasible = (d: number, w: ArrayLike<number>): boolean => {
      for (let k = 0; k < m; k++) {
        for (let jr = 0; jr < m; jr++) {
          const P = psi[k][jr];
          if (P && w[jr] + lpAt(P, d, r[k] - w[k]) > r[jr]) return true;
        }
      }
      return false;
    };

    let boundPruned = false;
    for (let k = 0; k < m; k++) if (fixedW[k] + sufMinW[k] > r[k]) return false;
    buildLps(0);
    if (pairInfeasible(0, fixedW)) return false;
    // States after d free layers, sorted by (w_0, g): sg, sw; parents and choices per depth for the reconstruction.
    let sg = new Float64Array([fixedG]);
    let sw = Float64Array.from(fixedW);
    const parents: Int32Array[] = [];
    const choices: Int32Array[] = [];
    const wcur = new Float64Array(m);
    const pen = new Float64Array(m);
    const runStart = new Int32Array(maxOpts + 1);
    const heads = new Int32Array(maxOpts);
    for (let d = 0; d < n; d++) {
      const i = free[d];
      const s0 = layerStart[i];
      const cnt = keptCount[i];
      const count = sg.length;
      grow(count * cnt);
      buildLps(d + 1);
      const cut0 = limit();
      let out = 0;
      // One run per option: the states shifted by the option stay sorted by (w_0, g).
      for (let q = 0; q < cnt; q++) {
        runStart[q] = out;
        const j = order[s0 + q];
        const oj = optG[j];
        for (let s = 0; s < count; s++) {
          stats.nodes++;
          const g = sg[s] + oj;
          let ok = true;
          let lagW = 0;
          for (let k = 0; k < m; k++) {
            const w = sw[s * m + k] + optW[j * m + k];
            if (w + sufMinW[(d + 1) * m + k] > r[k]) {
              ok = false;
              break;
            }
            wcur[k] = w;
            lagW += lam[k] * w;
          }
          if (!ok) continue;
          if (cand.g0 + g + lagW - lamR + sufMinV[d + 1] >= cut0) {
            boundPruned = true;
            continue;
          }
          let penSum = 0;
          for (let k = 0; k < m; k++) {
            pen[k] = lam[k] * (wcur[k] - r[k]);
            penSum += pen[k];
          }
          for (let k = 0; k < m; k++) {
            if (cand.g0 + g + (penSum - pen[k]) + lpAt(phi[k], d + 1, r[k] - wcur[k]) >= cut0) {
              ok = false;
              break;
            }
          }
          if (!ok) {
            boundPruned = true;
            continue;
          }
          if (m >= 2 && pairInfeasible(d + 1, wcur)) continue;
          bufG[out] = g;
          for (let k = 0; k < m; k++) bufW[out * m + k] = wcur[k];
          bufP[out] = s;
          bufC[out] = j;
          out++;
        }
      }
      runStart[cnt] = out;
      // Merge the runs by (w_0, g) and drop dominated states.
      const keep: number[] = [];
      if (m === 0) {
        let best = -1;
        for (let x = 0; x < out; x++) if (best < 0 || bufG[x] < bufG[best]) best = x;
        if (best >= 0) keep.push(best);
      } else {
        for (let q = 0; q < cnt; q++) heads[q] = runStart[q];
        let minG = Infinity;
        for (;;) {
          let bq = -1;
          for (let q = 0; q < cnt; q++) {
            const h = heads[q];
            if (h >= runStart[q + 1]) continue;
            if (bq < 0) {
              bq = q;
              continue;
            }
            const b = heads[bq];
            if (bufW[h * m] < bufW[b * m] || (bufW[h * m] === bufW[b * m] && bufG[h] < bufG[b])) bq = q;
          }
          if (bq < 0) break;
          const x = heads[bq]++;
          if (bufG[x] < minG) {
            minG = bufG[x];
            keep.push(x);
            continue;
          }
          if (m === 1) continue;
          // Several rows: x survives unless a recently kept state dominates it (checking fewer is only slower).
          let dominated = false;
          for (let p = keep.length - 1; p >= 0 && p >= keep.length - DOMINANCE_WINDOW; p--) {
            const y = keep[p];
            if (bufG[y] > bufG[x]) continue;
            let all = true;
            for (let k = 1; k < m && all; k++) if (bufW[y * m + k] > bufW[x * m + k]) all = false;
            if (all) {
              dominated = true;
              break;
            }
          }
          if (!dominated) keep.push(x);
        }
      }
      if (keep.length === 0) return boundPruned;
      const kn = keep.length;
      sg = new Float64Array(kn);
      sw = new Float64Array(kn * m);
      const par = new Int32Array(kn);
      const ch = new Int32Array(kn);
      for (let p = 0; p < kn; p++) {
        const x = keep[p];
        sg[p] = bufG[x];
        for (let k = 0; k < m; k++) sw[p * m + k] = bufW[x * m + k];
        par[p] = bufP[x];
        ch[p] = bufC[x];
      }
      parents.push(par);
      choices.push(ch);
    }
    // Complete plans, best first: the first that passes the exact test is the best under the limit.
    const finalOrder = sortedIndices(sg, sg.length);
    for (const x of finalOrder) {
      if (cand.g0 + sg[x] >= limit()) {
        boundPruned = true;
        break;
      }
      const choice = new Int32Array(c);
      for (let li = 0; li < c; li++) choice[li] = order[layerStart[li]];
      let s = x;
      for (let d = n - 1; d >= 0; d--) {
        choice[free[d]] = choices[d][s];
        s = parents[d][s];
      }
      const before = bestValue;
      offer(c, Array.from(choice, (j) => optBits[j]), cand.act);
      if (bestValue < before) break;
    }
    return boundPruned;
  };

  for (const cand of cands) {
    if (cand.lb >= cutoff()) break;
    solveCandidate(cand);
  }
  return { plan: bestPlan, value: bestValue, stats };
}
