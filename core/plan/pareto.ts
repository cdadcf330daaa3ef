/**
 * The Pareto front of plans over (latencyMs, energyJ, degradation, costUsd) (shared/SCIENCE.md, "The solver": found
 * by sweeping the budget and filtering dominance). It reuses the exact search; there is no second solver.
 *
 * Sweep: the degradation budget takes `points` values from the smallest achievable degradation (0 when FP32
 * everywhere is possible; it can be negative if some option improves accuracy) to the largest degradation any
 * weighting's unbudgeted optimum reaches, spaced cubically (dense at small budgets, where accuracy buys the most).
 * For each budget the problem's own objective and latency-, energy- and cost-first objectives (see `weightings`)
 * are minimised, the SLO and memory constraints kept, each solve seeded with the optimum at the previous, tighter
 * budget. The problem's own optimum at its own budget and each weighting's unbudgeted optimum are added. The union
 * is de-duplicated, filtered to the non-dominated plans and sorted by latency (then degradation).
 *
 * Knee: normalise latency and degradation to [0, 1] over the front; the knee is the plan farthest from the
 * straight line through the two extremes (first and last by latency).
 */
import type { Objective, Plan, PlanningProblem } from '../api/planning.js';
import { DEGRADATION_TOLERANCE, Q_DEGRADATION, standardConstraints, unitGoal, type LinearConstraint } from './planCost.js';
import { compileSearch, search, type CompiledSearch } from './search.js';

export interface ParetoOptions {
  /** Budget values per weighting (default 50). */
  points?: number;
  /**
   * 'coarse' keeps to the problem's own weighting: its unbudgeted optimum sets the top of the budget range, and the
   * sweep and the own optimum reuse one compiled search (`compiled`), about points + 3 solves and 2 compiles instead
   * of 4 x (points + 1) + 2 solves and 5 compiles. It is the live view's quick first answer for a problem it has not
   * seen (a device or link edit), shown while the full sweep runs. Each plan is an exact optimum at some budget; the
   * full sweep finds more, and the latency-, energy- and cost-first ends of the front.
   */
  sweep?: 'full' | 'coarse';
  /**
   * The search compiled for the problem's own objective and standardConstraints' rows (compileSearch(problem,
   * objectiveGoal(problem), standardConstraints(problem).map((r) => r.coef))), if the caller has it: the sweep under
   * the own weighting reuses it instead of compiling its own.
   */
  compiled?: CompiledSearch;
}

export interface ParetoFront {
  plans: Plan[];
  /** Index into plans; -1 when the front is empty. */
  knee: number;
  /** Searches run and their total time. */
  stats: { solves: number; solveMs: number };
}

/**
 * The problem's own weights, then latency-, energy- and cost-first weightings. The "first" weightings give the other
 * two quantities 1e-3 of the weight (each quantity normalised by a typical magnitude), so that among plans equal in
 * the main quantity the solver picks a non-dominated one.
 */
function weightings(own: Objective, scale: [number, number, number]): number[][] {
  const eps = 1e-3;
  const list = [
    [own.latency, own.energy, own.cost],
    [1 / scale[0], eps / scale[1], eps / scale[2]],
    [eps / scale[0], 1 / scale[1], eps / scale[2]],
    [eps / scale[0], eps / scale[1], 1 / scale[2]],
  ];
  const out: number[][] = [];
  for (const w of list) {
    const s = w[0] + w[1] + w[2];
    const n = w.map((x) => x / s);
    if (!out.some((o) => o.every((x, i) => Math.abs(x / (o[0] + o[1] + o[2]) - n[i]) < 1e-12))) out.push(w);
  }
  return out.map((w) => [w[0], w[1], w[2], 0, 0]);
}

/** a dominates b: no worse in every quantity and better in one. Equal plans: neither. */
function dominates(a: Plan, b: Plan): boolean {
  const qa = [a.latencyMs, a.energyJ, a.degradation, a.costUsd];
  const qb = [b.latencyMs, b.energyJ, b.degradation, b.costUsd];
  let strict = false;
  for (let i = 0; i < 4; i++) {
    if (qa[i] > qb[i]) return false;
    if (qa[i] < qb[i]) strict = true;
  }
  return strict;
}

export function nonDominated(plans: readonly Plan[]): Plan[] {
  const seen = new Set<string>();
  const unique: Plan[] = [];
  for (const p of plans) {
    const key = `${p.cut}|${p.bits.join(',')}|${p.activationBits}`;
    const qkey = `${p.latencyMs}|${p.energyJ}|${p.degradation}|${p.costUsd}`;
    if (seen.has(key) || seen.has(qkey)) continue;
    seen.add(key);
    seen.add(qkey);
    unique.push(p);
  }
  return unique.filter((p) => !unique.some((q) => q !== p && dominates(q, p)));
}

export function kneeIndex(plans: readonly Plan[]): number {
  if (plans.length === 0) return -1;
  if (plans.length <= 2) return 0;
  const lat = plans.map((p) => p.latencyMs);
  const deg = plans.map((p) => p.degradation);
  const norm = (v: number[]): number[] => {
    const lo = Math.min(...v);
    const span = Math.max(...v) - lo;
    return v.map((x) => (span > 0 ? (x - lo) / span : 0));
  };
  const x = norm(lat);
  const y = norm(deg);
  const n = plans.length - 1;
  const dx = x[n] - x[0];
  const dy = y[n] - y[0];
  const len = Math.hypot(dx, dy);
  let best = 0;
  let bestD = -1;
  for (let i = 0; i <= n; i++) {
    const d = len > 0 ? Math.abs(dy * (x[i] - x[0]) - dx * (y[i] - y[0])) / len : Math.hypot(x[i] - x[0], y[i] - y[0]);
    if (d > bestD) {
      bestD = d;
      best = i;
    }
  }
  return best;
}

export function paretoFront(problem: PlanningProblem, opts: ParetoOptions = {}): ParetoFront {
  const steps = paretoSteps(problem, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * paretoFront in slices: the event loop gets a turn (setImmediate) whenever a slice of solves has taken `sliceMs`
 * (default 8), so other requests are answered while a long sweep runs; `signal` abandons it between solves (the
 * promise rejects with the signal's reason). The same front as paretoFront.
 */
export async function paretoFrontSliced(problem: PlanningProblem, opts: ParetoOptions & { signal?: AbortSignal; sliceMs?: number } = {}): Promise<ParetoFront> {
  const steps = paretoSteps(problem, opts);
  const sliceMs = opts.sliceMs ?? 8;
  let sliceStart = performance.now();
  let elapsed = 0;
  for (;;) {
    opts.signal?.throwIfAborted();
    const r = steps.next();
    if (r.done) return { ...r.value, stats: { ...r.value.stats, solveMs: elapsed + performance.now() - sliceStart } };
    if (performance.now() - sliceStart >= sliceMs) {
      elapsed += performance.now() - sliceStart;
      await new Promise((res) => setImmediate(res));
      sliceStart = performance.now();
    }
  }
}

/** paretoFront's work, yielding after each solve (and compile). */
function* paretoSteps(problem: PlanningProblem, opts: ParetoOptions): Generator<void, ParetoFront, void> {
  const t0 = performance.now();
  const points = Math.max(1, Math.floor(opts.points ?? 50));
  let solves = 0;
  const all = standardConstraints(problem);
  const others: LinearConstraint[] = all.filter((c) => c.name !== 'degradation');
  const budgetRow = (b: number): LinearConstraint => ({ name: 'degradation', coef: unitGoal(Q_DEGRADATION), cap: b, tol: DEGRADATION_TOLERANCE });
  const run = (goal: number[], rows: LinearConstraint[], hint: Plan | null = null) => {
    solves++;
    return search(problem, { goal, constraints: rows, hint });
  };
  const empty = (): ParetoFront => ({ plans: [], knee: -1, stats: { solves, solveMs: performance.now() - t0 } });

  const lowest = run(unitGoal(Q_DEGRADATION), others);
  if (!lowest.plan) return empty();
  yield;
  let serverMs = 0;
  for (const l of problem.layers) serverMs += l.serverTimeMs;
  const ref = lowest.plan;
  const positive = (x: number): number => (x > 0 && Number.isFinite(x) ? x : 1);
  const ws = weightings(problem.objective, [positive(ref.latencyMs), positive(ref.energyJ), positive((problem.server.pricePerSecondUsd * serverMs) / 1000)]);
  // One compiled search per weighting, with the rows [degradation, ...others] (the order of standardConstraints), for
  // its unbudgeted optimum (a degradation cap no plan reaches), its sweep and (the own weighting) the own optimum.
  const rowCoefs = [unitGoal(Q_DEGRADATION), ...others.map((c) => c.coef)];
  const compiledFor: CompiledSearch[] = [];
  const compiled = (i: number): CompiledSearch => (compiledFor[i] ??= i === 0 && opts.compiled ? opts.compiled : compileSearch(problem, ws[i], rowCoefs));
  let noCap = 1;
  for (const l of problem.layers) noCap += Math.max(0, ...l.options.map((o) => Math.abs(o.degradation)));
  const found: Plan[] = [lowest.plan];
  let dMax = lowest.value;
  // A coarse sweep keeps to the own weighting: each other one costs a compile (several ms at ResNet-50 scale).
  const swept = opts.sweep === 'coarse' ? 1 : ws.length;
  for (let i = 0; i < swept; i++) {
    solves++;
    const r = compiled(i).run({ constraints: [budgetRow(noCap), ...others] });
    if (r.plan) {
      found.push(r.plan);
      dMax = Math.max(dMax, r.plan.degradation);
    }
    yield;
  }
  const dMin = lowest.value;
  // Cubic spacing: dense at small budgets, where accuracy buys the most (the top of the range is often 2-bit
  // everywhere, tens of percent of degradation, which a linear sweep would spend most points on).
  const budgets = points === 1 ? [dMax] : Array.from({ length: points }, (_, i) => (i === points - 1 ? dMax : dMin + (dMax - dMin) * (i / (points - 1)) ** 3));
  for (let i = 0; i < swept; i++) {
    let hint: Plan | null = null;
    for (const b of budgets) {
      solves++;
      const r = compiled(i).run({ constraints: [budgetRow(b), ...others], hint });
      if (r.plan) {
        found.push(r.plan);
        hint = r.plan;
      }
      yield;
    }
  }
  solves++;
  const own = compiled(0).run({ constraints: all });
  if (own.plan) found.push(own.plan);

  const plans = nonDominated(found).sort((a, b) => a.latencyMs - b.latencyMs || a.degradation - b.degradation);
  return { plans, knee: kneeIndex(plans), stats: { solves, solveMs: performance.now() - t0 } };
}

/**
 * The front of a problem from the front of the same problem at a looser budget plus the problem's own optimum at its
 * own budget. The sweep does not depend on the budget (it spans dMin..dMax under the other constraints), so
 * nonDominated(front(loose) ∪ {own optimum}) equals front(problem): an edit of the budget costs one solve instead of
 * a sweep. `base` must come from the same problem with only constraints.maxDegradation changed.
 */
export function withOwnOptimum(base: ParetoFront, own: Plan | null, extraMs = 0): ParetoFront {
  const plans = nonDominated(own ? [...base.plans, own] : base.plans).sort((a, b) => a.latencyMs - b.latencyMs || a.degradation - b.degradation);
  return { plans, knee: kneeIndex(plans), stats: { solves: base.stats.solves + (own ? 1 : 0), solveMs: base.stats.solveMs + extraMs } };
}
