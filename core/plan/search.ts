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
 * 2. Outer loop: every (c, a) gets a lower bound = its constant + the best single-row LP bound (the exact LP
 *    relaxation of the MCKP with that one row; by LP duality the best single-row Lagrangian bound), read off
 *    per-prefix tables of the sorted per-layer hull breakpoints. A pair of rows that cannot be met together even in
 *    the LP (min of row j's weight under row k exceeds its capacity) discards the pair at once. Candidates are
 *    solved in increasing bound order; the loop stops once a bound reaches the incumbent.
 * 3. Per (c, a): multipliers lam >= 0 for all rows (coordinate ascent, each step an exact 1-D maximisation; any
 *    lam >= 0 gives a valid bound lb), reduced costs rc at lam (an option with rc >= incumbent - lb cannot be in a
 *    better plan and is fixed out), heuristics for a first incumbent (greedy repair from the Lagrangian argmin and
 *    from LP roundings), then
 *    a. a depth-first dive (options in rc order, the tests of point 4, all rows) limited to DIVE_NODES nodes: if it
 *       finishes it was exhaustive and settles the subproblem;
 *    b. otherwise the bounded dynamic program with trial cutoffs lb + delta: options with rc >= delta are fixed
 *       out and states whose bound reaches the trial cutoff are dropped. If the program finds a plan under the trial
 *       cutoff, it is the subproblem's optimum (anything better would have passed every test); otherwise delta
 *       doubles until the trial cutoff reaches the incumbent, which proves nothing better exists.
 *    The program works on a relaxation: only the rows whose multiplier matters are on (row generation). Its best
 *    final state is the relaxation's optimum under the cutoff; if that state meets the rows that are off it is the
 *    optimum, otherwise the violated rows are switched on and the program runs again.
 * 4. The dynamic program (Nemhauser-Ullmann with bounds) adds the free layers one at a time and keeps the partial
 *    sums (g, w) that are not dominated (lower or equal g and every active w; exact for up to two active rows, a
 *    window of recent states for three) and pass, on the active rows,
 *      - feasibility: w_k + (lightest remaining w_k) <= r_k;
 *      - the Lagrangian bound: g0 + g + lam.(w - r) + sum_rem min_j (g_j + lam.w_j);
 *      - for each row k, the exact LP bound of the remaining layers under row k, the other rows priced at lam:
 *        g0 + g + sum_{j!=k} lam_j (w_j - r_j) + phi_k(r_k - w_k), phi_k(cap) = min LP goal (g + sum_{j!=k}
 *        lam_j w_j) of the remaining layers with sum w_k <= cap (a convex piecewise-linear function read off the
 *        sorted hull breakpoints of the remaining layers);
 *      - pairwise LP feasibility: w_j + psi_kj(r_k - w_k) <= r_j, psi_kj(cap) = min LP row-j weight of the
 *        remaining layers with row-k weight <= cap.
 *    Every test is monotone in (g, w), so a dominated state is never needed.
 * 5. Internally rows are tested with a slack of 1e-11 of their magnitude (a superset of the feasible plans, so the
 *    bounds stay valid); a complete plan becomes the incumbent only after `evaluatePlan` recomputes it and it meets
 *    the rows exactly as planCost defines them. The returned plan is therefore the one `evaluatePlan` computes and
 *    its feasibility is the one the brute force checks. (Near ties within ~1e-15 of a row's limit, where the two
 *    summation orders can disagree, are the only place this argument is not airtight.)
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
  /** Search nodes over all subproblems: dive nodes plus dynamic-programming states generated. */
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
/** Node budget of the depth-first dive that precedes the dynamic program in each subproblem. */
const DIVE_NODES = 8000;

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
 * Lower convex hull walk for min_j (v_j + t * w_j) over t >= 0, on options 0..n-1: starts at the argmin of v (ties:
 * smallest w) and moves to options of smaller w at nondecreasing breakpoints t. Calls push(t, dw, next option) per
 * breakpoint; returns the start option.
 */
function hullWalk(v: ArrayLike<number>, w: ArrayLike<number>, n: number, push: (t: number, dw: number, to: number) => void): number {
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
    push(Math.max(bestT, 0), w[cur] - w[next], next);
    cur = next;
  }
}

/** src[idx[0]], src[idx[1]], ... (typed-array `from` with a mapping function is slow in V8). */
function permute(src: readonly number[], idx: ArrayLike<number>): Float64Array {
  const out = new Float64Array(idx.length);
  for (let x = 0; x < idx.length; x++) out[x] = src[idx[x]];
  return out;
}

function permuteInt(src: readonly number[], idx: ArrayLike<number>): Int32Array {
  const out = new Int32Array(idx.length);
  for (let x = 0; x < idx.length; x++) out[x] = src[idx[x]];
  return out;
}

/** Indices 0..n-1 sorted by key, ascending (quicksort + insertion sort; faster than a comparator sort). */
function sortedIndices(key: ArrayLike<number>, n: number): Int32Array {
  const idx = new Int32Array(n);
  for (let x = 0; x < n; x++) idx[x] = x;
  const stack: number[] = [0, n - 1];
  while (stack.length) {
    const hi = stack.pop()!;
    const lo = stack.pop()!;
    if (hi - lo < 16) {
      for (let i = lo + 1; i <= hi; i++) {
        const v = idx[i];
        const kv = key[v];
        let j = i - 1;
        while (j >= lo && key[idx[j]] > kv) {
          idx[j + 1] = idx[j];
          j--;
        }
        idx[j + 1] = v;
      }
      continue;
    }
    const mid = (lo + hi) >> 1;
    // median of three as pivot
    const a = key[idx[lo]];
    const b = key[idx[mid]];
    const c = key[idx[hi]];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (key[idx[i]] < pivot) i++;
      while (key[idx[j]] > pivot) j--;
      if (i <= j) {
        const tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
        i++;
        j--;
      }
    }
    if (lo < j) stack.push(lo, j);
    if (i < hi) stack.push(i, hi);
  }
  return idx;
}

/** The search for one problem, goal and set of row shapes, compiled once and run for any caps (budget sweeps, tables). */
export interface CompiledSearch {
  /** Rows must have the coefficients given to compileSearch, in the same order; only cap and tol may differ. */
  run(spec: { constraints: readonly LinearConstraint[]; cuts?: readonly number[]; hint?: PlanChoice | null }): SearchResult;
}

export function search(problem: PlanningProblem, spec: SearchSpec): SearchResult {
  return compileSearch(
    problem,
    spec.goal,
    spec.constraints.map((r) => r.coef),
  ).run(spec);
}

export function compileSearch(problem: PlanningProblem, goal: readonly number[], rowCoefs: readonly (readonly number[])[]): CompiledSearch {
  const L = problem.layers.length;
  const m = rowCoefs.length;
  // Per-run state (reset by run()).
  let rows: readonly LinearConstraint[] = [];
  let stats: SearchStats = { candidates: 0, subproblems: 0, nodes: 0 };
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
      for (const coef of rowCoefs) tw.push(linearValue(coef, q));
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

  /**
   * Prefix LP tables: for a row k and a per-option goal h, F_c(cap) = min LP sum_{i<c} h subject to
   * sum_{i<c} w_k <= cap, for every prefix c (a cut): per layer the hull from its argmin-h option, all breakpoints
   * sorted by t once, and per prefix the cumulative weight and cost of its breakpoints, so a query is a binary search.
   */
  const prefixLp = (k: number, h: (j: number) => number) => {
    const startH = new Float64Array(maxCut + 1);
    const startW = new Float64Array(maxCut + 1);
    const segLayer: number[] = [];
    const segT: number[] = [];
    const segDw: number[] = [];
    for (let i = 0; i < maxCut; i++) {
      const s0 = layerStart[i];
      const n = layerCount[i];
      for (let q = 0; q < n; q++) {
        vbuf[q] = h(s0 + q);
        wbuf[q] = optW[(s0 + q) * m + k];
      }
      const start = hullWalk(vbuf, wbuf, n, (t, dw) => {
        segLayer.push(i);
        segT.push(t);
        segDw.push(dw);
      });
      startH[i + 1] = startH[i] + vbuf[start];
      startW[i + 1] = startW[i] + wbuf[start];
    }
    const idx = sortedIndices(segT, segT.length);
    const layer = permuteInt(segLayer, idx);
    const t = permute(segT, idx);
    const dw = permute(segDw, idx);
    const S = t.length;
    const cntAt = new Int32Array(maxCut + 1);
    for (let x = 0; x < S; x++) cntAt[layer[x]]++;
    const off = new Int32Array(maxCut + 2);
    let size = 0;
    for (let c = 0; c <= maxCut; c++) {
      off[c + 1] = off[c] + size;
      size += cntAt[c];
    }
    const qt = new Float64Array(off[maxCut + 1]);
    const qDw = new Float64Array(off[maxCut + 1]);
    const qCost = new Float64Array(off[maxCut + 1]);
    for (let c = 1; c <= maxCut; c++) {
      let pos = off[c];
      let sd = 0;
      let sc = 0;
      for (let x = 0; x < S; x++) {
        if (layer[x] >= c) continue;
        sd += dw[x];
        sc += dw[x] * t[x];
        qt[pos] = t[x];
        qDw[pos] = sd;
        qCost[pos] = sc;
        pos++;
      }
    }
    return { startH, startW, off, t: qt, cumDw: qDw, cumCost: qCost };
  };
  type PrefixLp = ReturnType<typeof prefixLp>;
  /** F_c(cap) above startH[c] (the LP's extra cost) and the optimal multiplier; gain Infinity if even the LP cannot fit. */
  const prefixQuery = (P: PrefixLp, c: number, cap: number): { gain: number; t: number } => {
    const need = P.startW[c] - cap;
    if (need <= 0) return { gain: 0, t: 0 };
    const from = P.off[c];
    const to = P.off[c + 1];
    if (to === from || P.cumDw[to - 1] < need) return { gain: Infinity, t: Infinity };
    let lo = from;
    let hi = to - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (P.cumDw[mid] >= need) hi = mid;
      else lo = mid + 1;
    }
    const prevDw = lo > from ? P.cumDw[lo - 1] : 0;
    const prevCost = lo > from ? P.cumCost[lo - 1] : 0;
    return { gain: prevCost + (need - prevDw) * P.t[lo], t: P.t[lo] };
  };
  // Row k's LP bound on the goal (single[k]), and for each ordered pair (k, j) the LP minimum of row j's weight under
  // row k (pairs): a candidate whose pair minimum exceeds row j's capacity is infeasible even in the LP relaxation.
  const single = Array.from({ length: m }, (_, k) => prefixLp(k, (j) => optG[j]));
  const pairs: { k: number; j: number; P: PrefixLp }[] = [];
  for (let k = 0; k < m; k++) for (let jr = 0; jr < m; jr++) if (jr !== k) pairs.push({ k, j: jr, P: prefixLp(k, (j) => optW[j * m + jr]) });
  /** Row k's LP bound for the head 0..c-1 above prefMinG[c] (LP duality: the best single-row Lagrangian bound) and its multiplier. */
  const singleGain = (k: number, c: number, r: number): { gain: number; t: number } => prefixQuery(single[k], c, r);

  // ---------------------------------------------------------------------------------------------------------------
  // Candidate templates (c, a): the goal constant g0 and row constants w0, for every allowed pair.
  const srvSuffix = new Float64Array(L + 1);
  for (let i = L - 1; i >= 0; i--) srvSuffix[i] = srvSuffix[i + 1] + problem.layers[i].serverTimeMs;
  const templates: { cut: number; act: number | null; g0: number; w0: Float64Array }[] = [];
  const templatesOfCut: number[][] = Array.from({ length: maxCut + 1 }, () => []);
  for (let c = 0; c <= maxCut; c++) {
    const acts: (CutOptionT | null)[] = c < L ? problem.cuts[c].options.filter((o) => !allowedA || allowedA.has(o.bits)) : [null];
    for (const a of acts) {
      const k0 = cutQuantities(problem, c, srvSuffix[c], a);
      const w0 = new Float64Array(m);
      for (let k = 0; k < m; k++) w0[k] = linearValue(rowCoefs[k], k0);
      templatesOfCut[c].push(templates.length);
      templates.push({ cut: c, act: a ? a.bits : null, g0: linearValue(goal, k0), w0 });
    }
  }

  // Incumbent (per run).
  let bestValue = Infinity;
  let bestPlan: Plan | null = null;
  const cutoff = (): number => (bestValue === Infinity ? Infinity : bestValue - PRUNE_REL * Math.abs(bestValue));
  /** Exact test of a complete plan; it becomes the incumbent if it meets every row and improves the goal. */
  const offer = (cut: number, bits: readonly number[], act: number | null): void => {
    const plan = evaluatePlan(problem, cut, bits, act);
    const q = planQuantities(plan);
    for (const row of rows) if (!satisfies(q, row)) return;
    const value = linearValue(goal, q);
    if (value < bestValue) {
      bestValue = value;
      bestPlan = plan;
    }
  };

  // ---------------------------------------------------------------------------------------------------------------
  // Per-subproblem scratch (sized for the largest head).
  const rc = new Float64Array(N);
  /** Per layer, its option indices sorted by reduced cost (ties: lighter first), at layerStart[i]. */
  const order = new Int32Array(N);
  const keptCount = new Int32Array(maxCut);
  const segT = new Float64Array(N + 1);
  const segDw = new Float64Array(N + 1);
  const rowUse = new Float64Array(N);

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
   * Rounded LP solution of min sum h subject to row k over the head of cand: every layer starts at its argmin-h
   * option; hull moves to lighter options are applied in order of price until row k fits (the last one in full).
   */
  const lpRound = (cand: Candidate, k: number, h: (j: number) => number): Int32Array => {
    const c = cand.cut;
    const choice = new Int32Array(c);
    const segLayer: number[] = [];
    const segTo: number[] = [];
    const segT: number[] = [];
    let need = -cand.r[k];
    for (let i = 0; i < c; i++) {
      const s0 = layerStart[i];
      const n = layerCount[i];
      for (let q = 0; q < n; q++) {
        vbuf[q] = h(s0 + q);
        wbuf[q] = optW[(s0 + q) * m + k];
      }
      const start = hullWalk(vbuf, wbuf, n, (t, _dw, to) => {
        segLayer.push(i);
        segTo.push(s0 + to);
        segT.push(t);
      });
      choice[i] = s0 + start;
      need += wbuf[start];
    }
    if (need > 0) {
      const idx = sortedIndices(segT, segT.length);
      for (let x = 0; x < idx.length && need > 0; x++) {
        const sx = idx[x];
        const i = segLayer[sx];
        need -= optW[choice[i] * m + k] - optW[segTo[sx] * m + k];
        choice[i] = segTo[sx];
      }
    }
    return choice;
  };

  /**
   * Heuristic incumbents (never needed for correctness, only for speed): from a start assignment, repair the rows
   * greedily (the move with the least goal increase per unit of normalised violation removed; ties: the larger
   * removal), then improve the goal by single moves that keep every row. Starts: the Lagrangian argmin and, with
   * several rows, the assignment lightest in the normalised rows and the LP roundings of every pair of rows.
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
      // LP rounding for each ordered pair of rows: minimise row j's weight subject to row k (hull walk), taking the
      // fractional layer's lighter option, so row k holds; good starts when the goal barely varies (feasibility).
      for (let k = 0; k < m; k++) for (let jr = 0; jr < m; jr++) if (jr !== k) starts.push(lpRound(cand, k, (j) => optW[j * m + jr] / norm[jr] + optG[j] * 1e-9));
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
        rowUse[j] = use;
        if (v < mv) mv = v;
      }
      for (let j = s0; j < s0 + n; j++) {
        rc[j] -= mv;
        // insertion sort of the layer's options by (rc, use)
        let p = j;
        while (p > s0 && (rc[order[p - 1]] > rc[j] || (rc[order[p - 1]] === rc[j] && rowUse[order[p - 1]] > rowUse[j]))) {
          order[p] = order[p - 1];
          p--;
        }
        order[p] = j;
      }
    }

    if (bestValue === Infinity) greedy(cand);
    if (lb >= cutoff()) return;

    // Dive: depth-first search over the options the incumbent leaves, stopped after DIVE_NODES nodes. If it
    // finishes it was exhaustive and the subproblem is solved; if not, it has usually improved the incumbent.
    setKept(c, cutoff() - lb);
    const first = prepare(cand, lam, allRows);
    if (!first) return;
    if (dive(first, DIVE_NODES)) return;
    if (lb >= cutoff()) return;

    // Trial cutoffs lb + delta for the dynamic program (header, point 3).
    // Row generation: the program starts with the rows whose multiplier is positive (binding in the LP); if the best
    // state it ends with violates another row, that row is switched on and the program repeats (point 4).
    // (A row whose multiplier could move the goal by less than 1e-6 of the bound starts off as well.)
    const on = new Uint8Array(m);
    for (let k = 0; k < m; k++) on[k] = lam[k] * scaleW[k] > 1e-6 * Math.abs(lb) ? 1 : 0;
    let delta = Math.max(1e-9 * Math.abs(lb), (cutoff() - lb) / 64, 1e-300);
    for (;;) {
      const trial = Math.min(cutoff(), lb + delta);
      const excluded = setKept(c, trial - lb);
      const before = bestValue;
      let pruned = false;
      for (;;) {
        const ctx = prepare(cand, lam, on);
        if (!ctx) break;
        const res = dynamicProgram(ctx, () => Math.min(trial, cutoff()));
        if (res.violated.length) {
          for (const k of res.violated) on[k] = 1;
          continue;
        }
        pruned = res.boundPruned;
        break;
      }
      if (bestValue < before || trial >= cutoff() || !(pruned || excluded)) return;
      delta *= 2;
    }
  };

  /** Reduced-cost fixing at a gap: per layer the kept options are the prefix with rc < gap. Returns whether any option was dropped. */
  const setKept = (c: number, gap: number): boolean => {
    let excluded = false;
    for (let i = 0; i < c; i++) {
      const s0 = layerStart[i];
      let n = 1;
      while (n < layerCount[i] && rc[order[s0 + n]] < gap) n++;
      keptCount[i] = n;
      if (n < layerCount[i]) excluded = true;
    }
    return excluded;
  };

  /**
   * LP function of the free layers at depth >= d, for one row k and a linear goal h over the options: F_d(cap) =
   * min LP h subject to row-k weight <= cap. Stored for every depth: hull starts (suffix sums) and the sorted hull
   * breakpoints of the layers at depth >= d with cumulative weight and cost.
   */
  interface LpTable {
    startG: Float64Array;
    startW: Float64Array;
    off: Int32Array;
    t: Float64Array;
    cumDw: Float64Array;
    cumCost: Float64Array;
    /** The breakpoints sorted by t, with their depth; depth d's cumulative arrays are filled on first use. */
    segT: Float64Array;
    segDw: Float64Array;
    segDepth: Int32Array;
    built: Uint8Array;
  }

  interface Context {
    cand: Candidate;
    /** The rows this search enforces (feasibility, bounds, dominance); the others are ignored (relaxed). */
    on: Uint8Array;
    /** Active row indices. */
    act: Int32Array;
    /** Multipliers, zero on rows that are off. */
    lam: Float64Array;
    lamR: number;
    free: Int32Array;
    n: number;
    fixedG: number;
    fixedW: Float64Array;
    sufMinW: Float64Array;
    sufMinV: Float64Array;
    phi: LpTable[];
    /** Pairs (k, j): LP minimum of row j's weight under row k. */
    psi: { k: number; j: number; P: LpTable }[];
    wcur: Float64Array;
    pen: Float64Array;
  }

  const lpTable = (free: Int32Array, k: number, h: (j: number) => number): LpTable => {
    const n = free.length;
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
    // depth d holds the breakpoints of depths >= d
    const cntAt = new Int32Array(n + 1);
    for (const x of depth) cntAt[x]++;
    const off = new Int32Array(n + 2);
    let suffix = 0;
    const sizes = new Int32Array(n + 1);
    for (let d = n; d >= 0; d--) {
      suffix += d < n ? cntAt[d] : 0;
      sizes[d] = suffix;
    }
    for (let d = 0; d <= n; d++) off[d + 1] = off[d] + sizes[d];
    const total = off[n + 1];
    return {
      startG,
      startW,
      off,
      t: new Float64Array(total),
      cumDw: new Float64Array(total),
      cumCost: new Float64Array(total),
      segT: permute(t, idx),
      segDw: permute(dw, idx),
      segDepth: permuteInt(depth, idx),
      built: new Uint8Array(n + 1),
    };
  };

  const fillDepth = (P: LpTable, d: number): void => {
    let pos = P.off[d];
    let sd = 0;
    let sc = 0;
    for (let x = 0; x < P.segT.length; x++) {
      if (P.segDepth[x] < d) continue;
      sd += P.segDw[x];
      sc += P.segDw[x] * P.segT[x];
      P.t[pos] = P.segT[x];
      P.cumDw[pos] = sd;
      P.cumCost[pos] = sc;
      pos++;
    }
    P.built[d] = 1;
  };

  /** F_d(cap) (Infinity if even the LP cannot fit). */
  const lpAt = (P: LpTable, d: number, cap: number): number => {
    const need = P.startW[d] - cap;
    if (need <= 0) return P.startG[d];
    if (!P.built[d]) fillDepth(P, d);
    const from = P.off[d];
    const to = P.off[d + 1];
    if (to === from || P.cumDw[to - 1] < need) return Infinity;
    let lo = from;
    let hi = to - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (P.cumDw[mid] >= need) hi = mid;
      else lo = mid + 1;
    }
    const prevDw = lo > from ? P.cumDw[lo - 1] : 0;
    const prevCost = lo > from ? P.cumCost[lo - 1] : 0;
    return P.startG[d] + prevCost + (need - prevDw) * P.t[lo];
  };

  const allRows = new Uint8Array(m).fill(1);

  /**
   * Everything the dive and the dynamic program need for one (c, a), the current kept options and the rows that
   * are on (the relaxation that drops the other rows); null if the root is infeasible.
   */
  const prepare = (cand: Candidate, lamFull: Float64Array, on: Uint8Array): Context | null => {
    const c = cand.cut;
    const r = cand.r;
    const act = Int32Array.from({ length: m }, (_, k) => k).filter((k) => on[k] === 1);
    const lam = Float64Array.from(lamFull, (x, k) => (on[k] ? x : 0));
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
    const sufMinW = new Float64Array((n + 1) * m);
    const sufMinV = new Float64Array(n + 1);
    for (let d = n - 1; d >= 0; d--) {
      const i = free[d];
      const s0 = layerStart[i];
      for (let k = 0; k < m; k++) {
        let mw = Infinity;
        for (let q = 0; q < keptCount[i]; q++) mw = Math.min(mw, optW[order[s0 + q] * m + k]);
        sufMinW[d * m + k] = sufMinW[(d + 1) * m + k] + mw;
      }
      let ml = Infinity;
      for (let q = 0; q < keptCount[i]; q++) {
        const j = order[s0 + q];
        let v = optG[j];
        for (const k of act) v += lam[k] * optW[j * m + k];
        ml = Math.min(ml, v);
      }
      sufMinV[d] = sufMinV[d + 1] + ml;
    }
    for (const k of act) if (fixedW[k] + sufMinW[k] > r[k]) return null;
    let lamR = 0;
    for (const k of act) lamR += lam[k] * r[k];
    const phi: LpTable[] = [];
    const psi: { k: number; j: number; P: LpTable }[] = [];
    for (const k of act) {
      phi[k] = lpTable(free, k, (j) => {
        let v = optG[j];
        for (const kk of act) if (kk !== k) v += lam[kk] * optW[j * m + kk];
        return v;
      });
      for (const jr of act) if (jr !== k) psi.push({ k, j: jr, P: lpTable(free, k, (j) => optW[j * m + jr]) });
    }
    const ctx: Context = { cand, on, act, lam, lamR, free, n, fixedG, fixedW, sufMinW, sufMinV, phi, psi, wcur: new Float64Array(m), pen: new Float64Array(m) };
    for (const { k, j, P } of psi) if (fixedW[j] + lpAt(P, 0, r[k] - fixedW[k]) > r[j]) return null;
    return ctx;
  };

  const OK = 0;
  const INFEASIBLE = 1;
  const BOUNDED = 2;
  /**
   * Tests of a partial assignment whose remaining layers are the free layers at depth >= d (header, point 4):
   * row feasibility, Lagrangian bound, per-row LP bounds, pairwise LP feasibility.
   */
  const test = (ctx: Context, d: number, g: number, w: Float64Array, limit: number): number => {
    const r = ctx.cand.r;
    const act = ctx.act;
    let lagW = 0;
    for (let a = 0; a < act.length; a++) {
      const k = act[a];
      if (w[k] + ctx.sufMinW[d * m + k] > r[k]) return INFEASIBLE;
      lagW += ctx.lam[k] * w[k];
    }
    const base = ctx.cand.g0 + g;
    if (base + lagW - ctx.lamR + ctx.sufMinV[d] >= limit) return BOUNDED;
    let penSum = 0;
    for (let a = 0; a < act.length; a++) {
      const k = act[a];
      ctx.pen[k] = ctx.lam[k] * (w[k] - r[k]);
      penSum += ctx.pen[k];
    }
    for (let a = 0; a < act.length; a++) {
      const k = act[a];
      if (base + (penSum - ctx.pen[k]) + lpAt(ctx.phi[k], d, r[k] - w[k]) >= limit) return BOUNDED;
    }
    for (const { k, j, P } of ctx.psi) if (w[j] + lpAt(P, d, r[k] - w[k]) > r[j]) return INFEASIBLE;
    return OK;
  };

  const planBits = (ctx: Context, freeChoice: Int32Array): number[] => {
    const c = ctx.cand.cut;
    const bits = new Array<number>(c);
    for (let i = 0; i < c; i++) bits[i] = optBits[order[layerStart[i]]];
    for (let d = 0; d < ctx.n; d++) bits[ctx.free[d]] = optBits[freeChoice[d]];
    return bits;
  };

  /** Depth-first search, options in reduced-cost order; returns true if it finished (was exhaustive) within `limit` nodes. */
  const dive = (ctx: Context, limit: number): boolean => {
    const n = ctx.n;
    const choice = new Int32Array(n);
    const wStack = new Float64Array((n + 1) * m);
    wStack.set(ctx.fixedW);
    const w = new Float64Array(m);
    let nodes = 0;
    let aborted = false;
    const rec = (d: number, g: number): void => {
      if (d === n) {
        if (ctx.cand.g0 + g < cutoff()) offer(ctx.cand.cut, planBits(ctx, choice), ctx.cand.act);
        return;
      }
      const i = ctx.free[d];
      const s0 = layerStart[i];
      for (let q = 0; q < keptCount[i]; q++) {
        if (++nodes > limit) {
          aborted = true;
          return;
        }
        const j = order[s0 + q];
        const ng = g + optG[j];
        for (let k = 0; k < m; k++) w[k] = wStack[d * m + k] + optW[j * m + k];
        if (test(ctx, d + 1, ng, w, cutoff()) !== OK) continue;
        for (let k = 0; k < m; k++) wStack[(d + 1) * m + k] = w[k];
        choice[d] = j;
        rec(d + 1, ng);
        if (aborted) return;
      }
    };
    rec(0, ctx.fixedG);
    stats.nodes += nodes;
    return !aborted;
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
   * The bounded dynamic program over the free layers (header, point 4), on the rows that are on. Offers the best
   * complete plan under limit(). Returns whether anything was dropped by a bound, and the rows that are off but
   * violated by the best final state (then nothing is offered: the caller switches them on and repeats).
   */
  const dynamicProgram = (ctx: Context, limit: () => number): { boundPruned: boolean; violated: number[] } => {
    const { cand, n, free, act } = ctx;
    const c = cand.cut;
    const r = cand.r;
    const ma = act.length;
    const a0 = ma > 0 ? act[0] : 0;
    let boundPruned = false;
    // States after d free layers, sorted by (w_a0, g); all m row sums are kept for the final check.
    let sg = new Float64Array([ctx.fixedG]);
    let sw = Float64Array.from(ctx.fixedW);
    const parents: Int32Array[] = [];
    const choices: Int32Array[] = [];
    const wcur = ctx.wcur;
    const runStart = new Int32Array(maxOpts + 1);
    const heads = new Int32Array(maxOpts);
    // staircase for two active rows: kept states sorted by g with decreasing w_a1
    const stairG: number[] = [];
    const stairW: number[] = [];
    for (let d = 0; d < n; d++) {
      const i = free[d];
      const s0 = layerStart[i];
      const cnt = keptCount[i];
      const count = sg.length;
      grow(count * cnt);
      const cut0 = limit();
      let out = 0;
      // One run per option: the states shifted by the option stay sorted by (w_a0, g).
      for (let q = 0; q < cnt; q++) {
        runStart[q] = out;
        const j = order[s0 + q];
        const oj = optG[j];
        for (let s = 0; s < count; s++) {
          stats.nodes++;
          const g = sg[s] + oj;
          for (let k = 0; k < m; k++) wcur[k] = sw[s * m + k] + optW[j * m + k];
          const res = test(ctx, d + 1, g, wcur, cut0);
          if (res !== OK) {
            if (res === BOUNDED) boundPruned = true;
            continue;
          }
          bufG[out] = g;
          for (let k = 0; k < m; k++) bufW[out * m + k] = wcur[k];
          bufP[out] = s;
          bufC[out] = j;
          out++;
        }
      }
      runStart[cnt] = out;
      // Merge the runs by (w_a0, g) and drop states dominated in g and every active row.
      const keep: number[] = [];
      if (ma === 0) {
        let best = -1;
        for (let x = 0; x < out; x++) if (best < 0 || bufG[x] < bufG[best]) best = x;
        if (best >= 0) keep.push(best);
      } else {
        for (let q = 0; q < cnt; q++) heads[q] = runStart[q];
        let minG = Infinity;
        stairG.length = 0;
        stairW.length = 0;
        const a1 = ma > 1 ? act[1] : 0;
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
            const wh = bufW[h * m + a0];
            const wb = bufW[b * m + a0];
            if (wh < wb || (wh === wb && bufG[h] < bufG[b])) bq = q;
          }
          if (bq < 0) break;
          const x = heads[bq]++;
          const gx = bufG[x];
          if (ma === 1) {
            if (gx < minG) {
              minG = gx;
              keep.push(x);
            }
            continue;
          }
          if (ma === 2) {
            // Exact: x is dominated iff a kept state (all have w_a0 <= x's) has g <= gx and w_a1 <= x's. On the
            // staircase the last entry with g <= gx has the least w_a1 among them.
            const wx = bufW[x * m + a1];
            let lo = 0;
            let hi = stairG.length;
            while (lo < hi) {
              const mid = (lo + hi) >> 1;
              if (stairG[mid] <= gx) lo = mid + 1;
              else hi = mid;
            }
            if (lo > 0 && stairW[lo - 1] <= wx) continue;
            keep.push(x);
            let end = lo;
            while (end < stairG.length && stairW[end] >= wx) end++;
            stairG.splice(lo, end - lo, gx);
            stairW.splice(lo, end - lo, wx);
            continue;
          }
          if (gx < minG) {
            minG = gx;
            keep.push(x);
            continue;
          }
          // Three active rows: x survives unless a recently kept state dominates it (checking fewer is only slower).
          let dominated = false;
          for (let p = keep.length - 1; p >= 0 && p >= keep.length - DOMINANCE_WINDOW; p--) {
            const y = keep[p];
            if (bufG[y] > gx) continue;
            let all = true;
            for (let t = 1; t < ma && all; t++) if (bufW[y * m + act[t]] > bufW[x * m + act[t]]) all = false;
            if (all) {
              dominated = true;
              break;
            }
          }
          if (!dominated) keep.push(x);
        }
      }
      if (keep.length === 0) return { boundPruned, violated: [] };
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
    // Complete plans, best first. The best is the optimum of the relaxation under the limit: if it breaks a row that
    // is off, report the row; otherwise the first that passes the exact test is the best plan under the limit.
    const finalOrder = sortedIndices(sg, sg.length);
    const freeChoice = new Int32Array(n);
    for (let f = 0; f < finalOrder.length; f++) {
      const x = finalOrder[f];
      if (cand.g0 + sg[x] >= limit()) {
        boundPruned = true;
        break;
      }
      if (f === 0 && ma < m) {
        const violated: number[] = [];
        for (let k = 0; k < m; k++) if (!ctx.on[k] && sw[x * m + k] > r[k]) violated.push(k);
        if (violated.length) return { boundPruned, violated };
      }
      if (ma < m) {
        let ok = true;
        for (let k = 0; k < m; k++) if (sw[x * m + k] > r[k]) ok = false;
        if (!ok) continue;
      }
      let s = x;
      for (let d = n - 1; d >= 0; d--) {
        freeChoice[d] = choices[d][s];
        s = parents[d][s];
      }
      const before = bestValue;
      offer(c, planBits(ctx, freeChoice), cand.act);
      if (bestValue < before) break;
    }
    return { boundPruned, violated: [] };
  };

  const run: CompiledSearch['run'] = (spec) => {
    if (spec.constraints.length !== m) throw new Error(`compiled for ${m} rows, run with ${spec.constraints.length}`);
    rows = spec.constraints;
    stats = { candidates: 0, subproblems: 0, nodes: 0 };
    bestValue = Infinity;
    bestPlan = null;
    const cutList = spec.cuts
      ? [...new Set(spec.cuts)].filter((c) => Number.isInteger(c) && c >= 0 && c <= maxCut).sort((x, y) => x - y)
      : Array.from({ length: maxCut + 1 }, (_, c) => c);
    // Candidates with their residual capacities and lower bounds.
    const cands: Candidate[] = [];
    for (const c of cutList) {
      for (const ti of templatesOfCut[c]) {
        const tp = templates[ti];
        stats.candidates++;
        const r = new Float64Array(m);
        let feasible = true;
        for (let k = 0; k < m; k++) {
          const slack = rows[k].tol + ROW_SLACK_REL * (Math.abs(rows[k].cap) + scaleW[k] + Math.abs(tp.w0[k]));
          r[k] = rows[k].cap + slack - tp.w0[k];
          if (prefMinW[c * m + k] > r[k]) feasible = false;
        }
        if (!feasible) continue;
        for (const { k, j, P } of pairs) {
          if (P.startH[c] + prefixQuery(P, c, r[k]).gain > r[j]) {
            feasible = false;
            break;
          }
        }
        if (!feasible) continue;
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
        if (feasible) cands.push({ cut: c, act: tp.act, g0: tp.g0, r, lb: tp.g0 + prefMinG[c] + bestGain, lambda });
      }
    }
    cands.sort((x, y) => x.lb - y.lb);
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
    for (const cand of cands) {
      if (cand.lb >= cutoff()) break;
      solveCandidate(cand);
    }
    return { plan: bestPlan, value: bestValue, stats };
  };
  return { run };
}
