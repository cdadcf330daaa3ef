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
 * Exactness (provably optimal for the model, up to 1e-12 relative in the goal):
 * 1. Options dominated in (goal coefficient, every constraint weight) are removed per layer: replacing a dominated
 *    option by its dominator never makes a plan worse or infeasible.
 * 2. Outer loop: every (c, a) gets a lower bound = its constant + the best single-row Lagrangian bound (the exact
 *    LP relaxation of the MCKP with that one row, computed on per-layer lower convex hulls). Candidates are solved
 *    in increasing bound order and the loop stops once a bound reaches the incumbent.
 * 3. Per (c, a): Lagrange multipliers for all rows (coordinate ascent over exact one-dimensional maximisations;
 *    any multipliers >= 0 give a valid bound), reduced-cost fixing against the incumbent, a greedy repair for a
 *    first incumbent, then depth-first branch and bound over the layers that are still free. A node is pruned by
 *    the Lagrangian bound (root bound + the reduced costs of the options chosen so far), by the bound ignoring the
 *    rows, or when some row cannot be met even with the lightest options in the remaining layers.
 * 4. Internally the rows are checked with a slack of 1e-11 of their magnitude (a superset of the feasible plans,
 *    so bounds stay valid); every leaf that would improve the incumbent is re-evaluated with `evaluatePlan` and
 *    accepted only if it meets the rows exactly as `planCost` defines them. The plan returned is therefore the
 *    one `evaluatePlan` computes, and its feasibility is the one the brute force checks.
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
  /** Rows coef . quantities <= cap + tol (at most a handful; usually the problem's own). */
  constraints: readonly LinearConstraint[];
  /** Restrict the cut positions (default: all). */
  cuts?: readonly number[];
  /** A plan known beforehand (e.g. the optimum at a tighter budget): if it is feasible it starts as the incumbent. */
  hint?: PlanChoice | null;
}

export interface SearchStats {
  /** (cut, activation) pairs that were searched (not pruned by their bound). */
  subproblems: number;
  /** Branch-and-bound nodes over all subproblems. */
  nodes: number;
  /** (cut, activation) pairs considered. */
  candidates: number;
}

export interface SearchResult {
  plan: Plan | null;
  /** goal . quantities(plan), Infinity when no plan meets the rows. */
  value: number;
  stats: SearchStats;
}

/** Relative margin below the incumbent a bound must reach to keep a branch (ties cannot improve the incumbent). */
const PRUNE_REL = 1e-12;
/** Internal slack on the rows, relative to their magnitude (the exact test happens in evaluatePlan). */
const ROW_SLACK_REL = 1e-11;
const MAX_ASCENT_ROUNDS = 8;

interface Opt {
  bits: number;
  g: number;
  w: Float64Array;
}

interface Candidate {
  cut: number;
  act: number | null;
  g0: number;
  /** Residual capacity of each row for the head layers (cap + slack - constant of (c, a)). */
  r: Float64Array;
  lb: number;
  lambda: Float64Array;
}

/** Plan quantities contributed by one layer option (see planCost.ts for the formulas). */
function optionQuantities(problem: PlanningProblem, o: PlanningProblem['layers'][number]['options'][number]): number[] {
  const dl = problem.constraints.headCached ? 0 : (o.weightBytes * 8 / problem.link.downlinkBps) * 1000;
  return [dl + o.deviceTimeMs, o.deviceEnergyJ + problem.device.powerRxW * dl / 1000, 0, o.degradation, o.weightBytes];
}

/** Plan quantities that depend only on the cut and the activation option. */
function cutQuantities(problem: PlanningProblem, cut: number, act: PlanningProblem['cuts'][number]['options'][number] | null): number[] {
  const L = problem.layers.length;
  let tSrv = 0;
  for (let i = cut; i < L; i++) tSrv += problem.layers[i].serverTimeMs;
  const peak = problem.cuts[cut].peakActivationBytes;
  if (cut === L || act === null) return [0, 0, 0, 0, peak];
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

function dominates(a: Opt, b: Opt): boolean {
  if (a.g > b.g) return false;
  for (let k = 0; k < a.w.length; k++) if (a.w[k] > b.w[k]) return false;
  return true;
}

/** Drops options dominated in (g, w): of two equal options the first is kept. */
function pruneDominated(opts: Opt[]): Opt[] {
  return opts.filter((b, j) => !opts.some((a, i) => i !== j && dominates(a, b) && (!dominates(b, a) || i < j)));
}

/**
 * Lower convex hull walk of one layer for min_j (v_j + t * w_j), t >= 0: starts at the argmin of v (ties: smallest
 * w) and moves to options of smaller w at increasing breakpoints t. Pushes (t, dw) pairs; returns the start index.
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
      if (t < bestT || (t === bestT && next >= 0 && w[j] < w[next])) {
        bestT = t;
        next = j;
      }
    }
    if (next < 0) return start;
    push(Math.max(bestT, 0), w[cur] - w[next]);
    cur = next;
  }
}

/**
 * Maximises the concave piecewise-linear h(t) = base + t * (d0 - t-independent) ... over t >= 0, given breakpoints
 * (t_s, dw_s): h'(t) = D0 - sum_{t_s <= t} dw_s. Returns the maximiser and the gain h(t*) - h(0); gain Infinity when
 * h never turns down (the row cannot be met).
 */
function walkBreakpoints(ts: Float64Array, dws: Float64Array, count: number, d0: number): { t: number; gain: number } {
  if (d0 <= 0) return { t: 0, gain: 0 };
  const idx = new Array<number>(count);
  for (let s = 0; s < count; s++) idx[s] = s;
  idx.sort((x, y) => ts[x] - ts[y]);
  let d = d0;
  let t = 0;
  let gain = 0;
  for (const s of idx) {
    gain += d * (ts[s] - t);
    t = ts[s];
    d -= dws[s];
    if (d <= 0) return { t, gain };
  }
  return { t: Infinity, gain: Infinity };
}

export function search(problem: PlanningProblem, spec: SearchSpec): SearchResult {
  const L = problem.layers.length;
  const rows = spec.constraints;
  const m = rows.length;
  const stats: SearchStats = { subproblems: 0, nodes: 0, candidates: 0 };
  const allowedW = problem.constraints.allowedBits ? new Set<number>(problem.constraints.allowedBits) : null;
  const allowedA = problem.constraints.allowedActivationBits ? new Set<number>(problem.constraints.allowedActivationBits) : null;

  // --- Compile the layers: allowed options, their goal coefficients and row weights, dominance-pruned.
  // A layer left without an allowed option can only run on the server, so the cut stays before it.
  let maxCut = L;
  const layers: Opt[][] = [];
  for (let i = 0; i < L; i++) {
    const raw = problem.layers[i].options.filter((o) => !allowedW || allowedW.has(o.bits));
    if (raw.length === 0) {
      maxCut = i;
      break;
    }
    const opts = raw.map((o) => {
      const q = optionQuantities(problem, o);
      return { bits: o.bits, g: linearValue(spec.goal, q), w: Float64Array.from(rows, (r) => linearValue(r.coef, q)) };
    });
    layers.push(pruneDominated(opts));
  }

  // Prefix sums over layers of the per-layer minima (bounds for every cut at once).
  const prefMinG = new Float64Array(maxCut + 1);
  const prefMinW = Array.from({ length: m }, () => new Float64Array(maxCut + 1));
  const scaleW = new Float64Array(m);
  for (let i = 0; i < maxCut; i++) {
    let mg = Infinity;
    for (const o of layers[i]) mg = Math.min(mg, o.g);
    prefMinG[i + 1] = prefMinG[i] + mg;
    for (let k = 0; k < m; k++) {
      let mw = Infinity;
      let mx = 0;
      for (const o of layers[i]) {
        mw = Math.min(mw, o.w[k]);
        mx = Math.max(mx, Math.abs(o.w[k]));
      }
      prefMinW[k][i + 1] = prefMinW[k][i] + mw;
      scaleW[k] += mx;
    }
  }

  // Single-row Lagrangian (LP) bounds: per row, each layer's hull from its argmin-g option, breakpoints sorted once.
  const single = Array.from({ length: m }, (_, k) => {
    const prefArgW = new Float64Array(maxCut + 1);
    const segLayer: number[] = [];
    const segT: number[] = [];
    const segDw: number[] = [];
    for (let i = 0; i < maxCut; i++) {
      const opts = layers[i];
      const v = opts.map((o) => o.g);
      const w = opts.map((o) => o.w[k]);
      const start = hullWalk(v, w, opts.length, (t, dw) => {
        segLayer.push(i);
        segT.push(t);
        segDw.push(dw);
      });
      prefArgW[i + 1] = prefArgW[i] + w[start];
    }
    const order = segT.map((_, s) => s).sort((x, y) => segT[x] - segT[y]);
    return { prefArgW, layer: Int32Array.from(order, (s) => segLayer[s]), t: Float64Array.from(order, (s) => segT[s]), dw: Float64Array.from(order, (s) => segDw[s]) };
  });
  /** max over t >= 0 of sum_{i<c} min_j (g + t w_k) - t r, minus prefMinG[c]; Infinity when infeasible. */
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

  // --- Candidates (c, a).
  const cutList = spec.cuts ? [...new Set(spec.cuts)].filter((c) => Number.isInteger(c) && c >= 0 && c <= maxCut).sort((x, y) => x - y) : Array.from({ length: maxCut + 1 }, (_, c) => c);
  const cands: Candidate[] = [];
  for (const c of cutList) {
    const acts = c < L ? problem.cuts[c].options.filter((o) => !allowedA || allowedA.has(o.bits)) : [null];
    for (const a of acts) {
      stats.candidates++;
      const k0 = cutQuantities(problem, c, a);
      const r = new Float64Array(m);
      let feasible = true;
      for (let k = 0; k < m; k++) {
        const w0 = linearValue(rows[k].coef, k0);
        const slack = rows[k].tol + ROW_SLACK_REL * (Math.abs(rows[k].cap) + scaleW[k] + Math.abs(w0));
        r[k] = rows[k].cap + slack - w0;
        if (prefMinW[k][c] > r[k]) feasible = false;
      }
      if (!feasible) continue;
      const g0 = linearValue(spec.goal, k0);
      let bestGain = 0;
      const lambda = new Float64Array(m);
      let bestK = -1;
      let bestT = 0;
      for (let k = 0; k < m && feasible; k++) {
        const { gain, t } = singleGain(k, c, r[k]);
        if (gain === Infinity) feasible = false;
        else if (gain > bestGain) {
          bestGain = gain;
          bestK = k;
          bestT = t;
        }
      }
      if (!feasible) continue;
      if (bestK >= 0) lambda[bestK] = bestT;
      cands.push({ cut: c, act: a ? a.bits : null, g0, r, lb: g0 + prefMinG[c] + bestGain, lambda });
    }
  }
  cands.sort((x, y) => x.lb - y.lb);

  // --- Incumbent.
  let bestValue = Infinity;
  let bestPlan: Plan | null = null;
  const cutoff = (): number => (bestValue === Infinity ? Infinity : bestValue - PRUNE_REL * Math.abs(bestValue));
  /** Exact test of a complete plan; becomes the incumbent if it meets every row and improves the goal. */
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
      (h.cut === L ? h.activationBits === null : h.activationBits !== null && (!allowedA || allowedA.has(h.activationBits)) && problem.cuts[h.cut].options.some((o) => o.bits === h.activationBits));
    if (ok) offer(h.cut, h.bits, h.activationBits);
  }

  // Scratch space, sized for the largest head.
  let maxOpts = 1;
  for (const opts of layers) maxOpts = Math.max(maxOpts, opts.length);
  const vbuf = new Float64Array(maxOpts);
  const wbuf = new Float64Array(maxOpts);
  const segTs = new Float64Array(maxCut * maxOpts + 1);
  const segDws = new Float64Array(maxCut * maxOpts + 1);

  /** Lagrangian dual value for head 0..c-1 at multipliers lam. */
  const dual = (cand: Candidate, lam: Float64Array): number => {
    let s = cand.g0;
    for (let k = 0; k < m; k++) s -= lam[k] * cand.r[k];
    for (let i = 0; i < cand.cut; i++) {
      let mv = Infinity;
      for (const o of layers[i]) {
        let v = o.g;
        for (let k = 0; k < m; k++) v += lam[k] * o.w[k];
        if (v < mv) mv = v;
      }
      s += mv;
    }
    return s;
  };

  /** Best lam[k] with the other multipliers fixed (exact: walk of the breakpoints of the per-layer hulls). */
  const ascend = (cand: Candidate, lam: Float64Array, k: number): void => {
    let count = 0;
    let d0 = -cand.r[k];
    for (let i = 0; i < cand.cut; i++) {
      const opts = layers[i];
      for (let j = 0; j < opts.length; j++) {
        let v = opts[j].g;
        for (let kk = 0; kk < m; kk++) if (kk !== k) v += lam[kk] * opts[j].w[kk];
        vbuf[j] = v;
        wbuf[j] = opts[j].w[k];
      }
      const start = hullWalk(vbuf, wbuf, opts.length, (t, dw) => {
        segTs[count] = t;
        segDws[count] = dw;
        count++;
      });
      d0 += wbuf[start];
    }
    const { t } = walkBreakpoints(segTs, segDws, count, d0);
    if (Number.isFinite(t)) lam[k] = t;
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
    // Root multipliers: start from the best single-row multiplier, then coordinate ascent over all rows.
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
    lb = Math.max(lb, cand.lb);
    if (lb >= cutoff()) return;

    // Lagrangian values and reduced costs per layer; options sorted by reduced cost.
    const rcs: Float64Array[] = [];
    const orders: number[][] = [];
    for (let i = 0; i < c; i++) {
      const opts = layers[i];
      const v = new Float64Array(opts.length);
      let mv = Infinity;
      for (let j = 0; j < opts.length; j++) {
        let x = opts[j].g;
        for (let k = 0; k < m; k++) x += lam[k] * opts[j].w[k];
        v[j] = x;
        if (x < mv) mv = x;
      }
      for (let j = 0; j < opts.length; j++) v[j] = v[j] - mv;
      rcs.push(v);
      const use = (j: number): number => {
        let s = 0;
        for (let k = 0; k < m; k++) s += scaleW[k] > 0 ? opts[j].w[k] / scaleW[k] : 0;
        return s;
      };
      orders.push(opts.map((_, j) => j).sort((x, y) => v[x] - v[y] || use(x) - use(y)));
    }

    // Greedy repair from the Lagrangian solution for a first incumbent.
    greedy(cand, rcs, orders);
    if (lb >= cutoff()) return;

    // Reduced-cost fixing: an option whose reduced cost alone closes the gap cannot be in a better plan.
    const gap = cutoff() - lb;
    const fixedChoice = new Int32Array(c);
    const free: number[] = [];
    const fixedW = new Float64Array(m);
    let fixedG = 0;
    const kept: number[][] = [];
    for (let i = 0; i < c; i++) {
      const ks = orders[i].filter((j) => rcs[i][j] < gap);
      kept.push(ks);
      fixedChoice[i] = ks[0];
      if (ks.length === 1) {
        const o = layers[i][ks[0]];
        fixedG += o.g;
        for (let k = 0; k < m; k++) fixedW[k] += o.w[k];
      } else free.push(i);
    }
    free.sort((x, y) => kept[x].length - kept[y].length || x - y);
    // Guess the gap: run the dynamic program with a trial cutoff lb + delta below the incumbent. If it finds a plan
    // under the trial cutoff, that plan is optimal (everything it pruned was at or above the trial cutoff);
    // otherwise widen delta (x8) until the trial cutoff reaches the incumbent, which settles the subproblem.
    let delta = Math.max(1e-9 * Math.abs(lb), (cutoff() - lb) / 64, 1e-300);
    if (!Number.isFinite(delta)) delta = Math.max(1e-4 * Math.abs(lb), 1e-9);
    for (;;) {
      const trial = Math.min(cutoff(), lb + delta);
      const before = bestValue;
      const pruned = dynamicProgram(cand, lam, free, kept, fixedChoice, fixedG, fixedW, () => Math.min(trial, cutoff()));
      if (bestValue < before || trial >= cutoff() || !pruned) return;
      delta *= 2;
    }
  };

  /**
   * Bounded dynamic programming over the free layers (Nemhauser-Ullmann style): the states after d layers are the
   * partial sums (g, w) that are not dominated (lower or equal g and every w) and not pruned by
   *  - feasibility: w_k + (lightest remaining w_k) <= r_k for every row;
   *  - the Lagrangian bound at the root multipliers: g0 + g + lam.(w - r) + sum_rem min(g + lam.w);
   *  - per row k, the exact LP bound of the remaining layers for row k with the other rows priced at the root
   *    multipliers: g0 + g + sum_{j!=k} lam_j (w_j - r_j) + phi_k(r_k - w_k), phi_k(cap) being the LP optimum of
   *    the remaining layers (goal g + sum_{j!=k} lam_j w_j) under row k with capacity cap: a convex piecewise-linear
   *    function precomputed from the sorted hull breakpoints of the remaining layers.
   * Every bound is valid for any multipliers >= 0, so a state is dropped only if no completion can beat the
   * incumbent; dominated states are dropped because their dominator completes at least as well.
   */
  const dynamicProgram = (cand: Candidate, lam: Float64Array, free: number[], kept: number[][], fixedChoice: Int32Array, fixedG: number, fixedW: Float64Array, limit: () => number): boolean => {
    const c = cand.cut;
    const n = free.length;
    const r = cand.r;
    // Suffix data over the free layers.
    const sufMinW = new Float64Array((n + 1) * m);
    const sufLag = new Float64Array(n + 1);
    for (let d = n - 1; d >= 0; d--) {
      const opts = layers[free[d]];
      let ml = Infinity;
      for (const j of kept[free[d]]) {
        let v = opts[j].g;
        for (let k = 0; k < m; k++) v += lam[k] * opts[j].w[k];
        if (v < ml) ml = v;
      }
      sufLag[d] = sufLag[d + 1] + ml;
      for (let k = 0; k < m; k++) {
        let mw = Infinity;
        for (const j of kept[free[d]]) mw = Math.min(mw, opts[j].w[k]);
        sufMinW[d * m + k] = sufMinW[(d + 1) * m + k] + mw;
      }
    }
    let lamR = 0;
    for (let k = 0; k < m; k++) lamR += lam[k] * r[k];
    // phi_k for every suffix: start point (sum of argmin g', its w_k) and sorted breakpoints with cumulative sums.
    const phi = Array.from({ length: m }, (_, k) => {
      const startG = new Float64Array(n + 1);
      const startW = new Float64Array(n + 1);
      const lists: { t: Float64Array; cumDw: Float64Array; cumCost: Float64Array }[] = new Array(n + 1);
      let ts: number[] = [];
      let dws: number[] = [];
      lists[n] = { t: new Float64Array(0), cumDw: new Float64Array(0), cumCost: new Float64Array(0) };
      for (let d = n - 1; d >= 0; d--) {
        const i = free[d];
        const ks = kept[i];
        for (let q = 0; q < ks.length; q++) {
          const o = layers[i][ks[q]];
          let v = o.g;
          for (let kk = 0; kk < m; kk++) if (kk !== k) v += lam[kk] * o.w[kk];
          vbuf[q] = v;
          wbuf[q] = o.w[k];
        }
        const addT: number[] = [];
        const addDw: number[] = [];
        const start = hullWalk(vbuf, wbuf, ks.length, (t, dw) => {
          addT.push(t);
          addDw.push(dw);
        });
        startG[d] = startG[d + 1] + vbuf[start];
        startW[d] = startW[d + 1] + wbuf[start];
        // Merge the (sorted) new breakpoints into the suffix list.
        const mt: number[] = [];
        const mdw: number[] = [];
        let a = 0;
        let b = 0;
        while (a < ts.length || b < addT.length) {
          if (b >= addT.length || (a < ts.length && ts[a] <= addT[b])) {
            mt.push(ts[a]);
            mdw.push(dws[a++]);
          } else {
            mt.push(addT[b]);
            mdw.push(addDw[b++]);
          }
        }
        ts = mt;
        dws = mdw;
        const cumDw = new Float64Array(ts.length);
        const cumCost = new Float64Array(ts.length);
        let sd = 0;
        let sc = 0;
        for (let s = 0; s < ts.length; s++) {
          sd += dws[s];
          sc += dws[s] * ts[s];
          cumDw[s] = sd;
          cumCost[s] = sc;
        }
        lists[d] = { t: Float64Array.from(ts), cumDw, cumCost };
      }
      return { startG, startW, lists };
    });
    /** LP optimum of the free layers d.. under row k with capacity cap (Infinity if even the LP cannot fit). */
    const phiAt = (k: number, d: number, cap: number): number => {
      const P = phi[k];
      const need = P.startW[d] - cap;
      if (need <= 0) return P.startG[d];
      const { t, cumDw, cumCost } = P.lists[d];
      const len = cumDw.length;
      if (len === 0 || cumDw[len - 1] < need) return Infinity;
      let lo = 0;
      let hi = len - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cumDw[mid] >= need) hi = mid;
        else lo = mid + 1;
      }
      const prevDw = lo > 0 ? cumDw[lo - 1] : 0;
      const prevCost = lo > 0 ? cumCost[lo - 1] : 0;
      return P.startG[d] + prevCost + (need - prevDw) * t[lo];
    };
    let boundPruned = false;
    const otherPenalty = new Float64Array(m);
    const wcur = new Float64Array(m);

    // States: g, w (m per state); parents for the reconstruction.
    let sg = new Float64Array([fixedG]);
    let sw = Float64Array.from(fixedW);
    const parents: Int32Array[] = [];
    const choices: Int32Array[] = [];
    for (let k = 0; k < m; k++) if (fixedW[k] + sufMinW[k] > r[k]) return false;
    for (let d = 0; d < n; d++) {
      const i = free[d];
      const opts = layers[i];
      const ks = kept[i];
      const count = sg.length;
      const ng: number[] = [];
      const nw: number[] = [];
      const np: number[] = [];
      const nc: number[] = [];
      const cut0 = limit();
      for (let s = 0; s < count; s++) {
        for (const j of ks) {
          const o = opts[j];
          const g = sg[s] + o.g;
          stats.nodes++;
          let ok = true;
          let lagW = 0;
          for (let k = 0; k < m; k++) {
            const w = sw[s * m + k] + o.w[k];
            if (w + sufMinW[(d + 1) * m + k] > r[k]) {
              ok = false;
              break;
            }
            wcur[k] = w;
            lagW += lam[k] * w;
          }
          if (!ok) continue;
          if (cand.g0 + g + lagW - lamR + sufLag[d + 1] >= cut0) {
            boundPruned = true;
            continue;
          }
          for (let k = 0; k < m; k++) otherPenalty[k] = lam[k] * (wcur[k] - r[k]);
          let pen = 0;
          for (let k = 0; k < m; k++) pen += otherPenalty[k];
          for (let k = 0; k < m && ok; k++) {
            const bound = cand.g0 + g + (pen - otherPenalty[k]) + phiAt(k, d + 1, r[k] - wcur[k]);
            if (bound >= cut0) ok = false;
          }
          if (!ok) {
            boundPruned = true;
            continue;
          }
          ng.push(g);
          for (let k = 0; k < m; k++) nw.push(wcur[k]);
          np.push(s);
          nc.push(j);
        }
      }
      // Dominance: sort by (w_0, g) and keep a state only if no kept state has g and every w at most its own.
      const idx = ng.map((_, x) => x);
      if (m === 0) idx.sort((x, y) => ng[x] - ng[y]);
      else idx.sort((x, y) => nw[x * m] - nw[y * m] || ng[x] - ng[y]);
      const keep: number[] = [];
      let minG = Infinity;
      for (const x of idx) {
        if (m === 0) {
          if (keep.length === 0) keep.push(x);
          break;
        }
        if (ng[x] < minG) {
          minG = ng[x];
          keep.push(x);
          continue;
        }
        if (m === 1) continue;
        // Several rows: x is kept unless a recent kept state dominates it (a partial check; dropping fewer is safe).
        let dominated = false;
        for (let q = keep.length - 1; q >= 0 && q >= keep.length - 16; q--) {
          const y = keep[q];
          if (ng[y] > ng[x]) continue;
          let all = true;
          for (let k = 1; k < m; k++) if (nw[y * m + k] > nw[x * m + k]) all = false;
          if (all) {
            dominated = true;
            break;
          }
        }
        if (!dominated) keep.push(x);
      }
      if (keep.length === 0) return boundPruned;
      sg = Float64Array.from(keep, (x) => ng[x]);
      sw = new Float64Array(keep.length * m);
      keep.forEach((x, q) => {
        for (let k = 0; k < m; k++) sw[q * m + k] = nw[x * m + k];
      });
      parents.push(Int32Array.from(keep, (x) => np[x]));
      choices.push(Int32Array.from(keep, (x) => nc[x]));
    }
    // Complete plans, best first; the first that passes the exact test is this subproblem's optimum.
    const order = Array.from(sg, (_, x) => x).sort((x, y) => sg[x] - sg[y]);
    for (const x of order) {
      if (cand.g0 + sg[x] >= limit()) {
        boundPruned = true;
        break;
      }
      const choice = Int32Array.from(fixedChoice);
      let s = x;
      for (let d = n - 1; d >= 0; d--) {
        choice[free[d]] = choices[d][s];
        s = parents[d][s];
      }
      const before = bestValue;
      offer(c, Array.from(choice, (j, li) => layers[li][j].bits), cand.act);
      if (bestValue < before) break;
    }
    return boundPruned;
  };

  /**
   * Greedy repair: start at each layer's least reduced cost option; while a row is violated, make the move with the
   * smallest goal increase per unit of (normalised) violation removed. Only a heuristic for the first incumbent.
   */
  const greedy = (cand: Candidate, rcs: Float64Array[], orders: number[][]): void => {
    const c = cand.cut;
    const choice = Int32Array.from(orders, (o) => o[0]);
    const used = new Float64Array(m);
    for (let i = 0; i < c; i++) for (let k = 0; k < m; k++) used[k] += layers[i][choice[i]].w[k];
    const norm = Float64Array.from(scaleW, (s) => (s > 0 ? s / Math.max(1, c) : 1));
    for (let iter = 0; iter < c * maxOpts + 1; iter++) {
      let violated = false;
      for (let k = 0; k < m; k++) if (used[k] > cand.r[k]) violated = true;
      if (!violated) {
        let g = cand.g0;
        for (let i = 0; i < c; i++) g += layers[i][choice[i]].g;
        if (g < cutoff()) offer(c, Array.from(choice, (j, i) => layers[i][j].bits), cand.act);
        return;
      }
      let bestScore = Infinity;
      let bi = -1;
      let bj = -1;
      for (let i = 0; i < c; i++) {
        const cur = layers[i][choice[i]];
        for (let j = 0; j < layers[i].length; j++) {
          if (j === choice[i]) continue;
          const o = layers[i][j];
          let gain = 0;
          for (let k = 0; k < m; k++) {
            const viol = used[k] - cand.r[k];
            const delta = o.w[k] - cur.w[k];
            if (viol > 0) gain += Math.min(viol, -delta) / norm[k];
            else if (delta > -viol) gain -= (delta + viol) / norm[k];
          }
          if (!(gain > 0)) continue;
          const score = (o.g - cur.g) / gain;
          if (score < bestScore) {
            bestScore = score;
            bi = i;
            bj = j;
          }
        }
      }
      if (bi < 0) return;
      for (let k = 0; k < m; k++) used[k] += layers[bi][bj].w[k] - layers[bi][choice[bi]].w[k];
      choice[bi] = bj;
    }
    void rcs;
  };

  for (const cand of cands) {
    if (cand.lb >= cutoff()) break;
    solveCandidate(cand);
  }
  return { plan: bestPlan, value: bestValue, stats };
}
