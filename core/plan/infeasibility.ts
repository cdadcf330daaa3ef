/**
 * Why no plan meets the constraints, and what is nearest. Infeasibility is a normal answer of the solver, not an
 * error: the report names the tightest constraint, how far its limit would have to move, and the plan that would
 * become optimal once it moved.
 *
 * For each active constraint (degradation always; latency if an SLO is set; memory if enforced) the same exact
 * search minimises that constraint's own quantity while the other constraints are kept: that is the best value
 * achievable, and (best - limit) / max(limit, floor) is how far (relative) the limit must move to admit a plan.
 * Floors keep a zero budget meaningful: 0.001 (0.1 percentage point) for degradation, 1 ms, 1 MiB. The tightest
 * constraint is the one with the smallest move; the nearest plan is the objective's optimum once that limit is set
 * to the best achievable value (the search is seeded with the plan that attains it, so it exists).
 *
 * If no single relaxation is enough, the nearest plan minimises the sum of relative violations
 * sum_k max(0, (value_k - limit_k) / max(limit_k, floor_k)). That function is piecewise linear, so it is minimised
 * exactly by splitting the plans by which constraints they violate: for each non-empty set S, minimise
 * sum_{k in S} value_k / den_k subject to value_k >= limit_k (k in S) and value_k <= limit_k (k not in S); on each
 * piece the goal equals the summed violation up to a constant.
 */
import { CoreError } from '../api/errors.js';
import type { Plan, PlanningProblem } from '../api/planning.js';
import {
  CONSTRAINT_QUANTITY,
  describePlan,
  formatBytes,
  formatMs,
  formatPercent,
  linearValue,
  objectiveGoal,
  planQuantities,
  standardConstraints,
  unitGoal,
  type ConstraintName,
  type LinearConstraint,
} from './planCost.js';
import { search } from './search.js';

export interface ConstraintAnalysis {
  name: ConstraintName;
  limit: number;
  /** Best value of this constraint's quantity under the other constraints; null if they admit no plan at all. */
  bestAchievable: number | null;
  /** (bestAchievable - limit) / max(limit, floor); null with bestAchievable. */
  relativeMove: number | null;
}

export interface InfeasibilityReport {
  message: string;
  tightest: ConstraintName;
  limit: number;
  /** With a single relaxation: the best achievable value of the tightest quantity; otherwise its value in `nearest`. */
  bestAchievable: number;
  /** The nearest plan (see the module comment). */
  nearest: Plan;
  /** false when relaxing any one constraint alone is not enough; `nearest` then minimises the summed relative violations. */
  singleRelaxation: boolean;
  constraints: ConstraintAnalysis[];
}

const FLOOR: Record<ConstraintName, number> = { degradation: 1e-3, latency: 1, memory: 2 ** 20 };

export function relativeDenominator(name: ConstraintName, limit: number): number {
  return Math.max(Math.abs(limit), FLOOR[name]);
}

const TITLE: Record<ConstraintName, string> = { degradation: 'the accuracy budget', latency: 'the latency SLO', memory: 'the device memory' };

function fmt(name: ConstraintName, v: number): string {
  return name === 'degradation' ? formatPercent(v) : name === 'latency' ? formatMs(v) : formatBytes(v);
}

function limitText(name: ConstraintName, limit: number): string {
  return name === 'degradation' ? `at most ${fmt(name, limit)} degradation` : `at most ${fmt(name, limit)}`;
}

function bestText(name: ConstraintName, best: number): string {
  if (name === 'degradation') return `the best achievable under the other constraints is ${fmt(name, best)}`;
  if (name === 'latency') return `the fastest plan under the other constraints takes ${fmt(name, best)}`;
  return `the smallest footprint under the other constraints is ${fmt(name, best)}`;
}

export function explainInfeasibility(problem: PlanningProblem, opts: { cuts?: readonly number[] } = {}): InfeasibilityReport {
  const cons = standardConstraints(problem);
  const analyses: (ConstraintAnalysis & { plan: Plan | null })[] = cons.map((con, k) => {
    const others = cons.filter((_, j) => j !== k);
    const r = search(problem, { goal: unitGoal(CONSTRAINT_QUANTITY[con.name]), constraints: others, cuts: opts.cuts });
    if (!r.plan) return { name: con.name, limit: con.cap, bestAchievable: null, relativeMove: null, plan: null };
    return { name: con.name, limit: con.cap, bestAchievable: r.value, relativeMove: (r.value - con.cap) / relativeDenominator(con.name, con.cap), plan: r.plan };
  });
  const constraints: ConstraintAnalysis[] = analyses.map(({ name, limit, bestAchievable, relativeMove }) => ({ name, limit, bestAchievable, relativeMove }));

  const usable = analyses.filter((a) => a.plan !== null);
  if (usable.length > 0) {
    const t = usable.reduce((a, b) => (b.relativeMove! < a.relativeMove! ? b : a));
    const k = cons.findIndex((c) => c.name === t.name);
    const con = cons[k];
    const best = t.bestAchievable!;
    // The objective's optimum with this one limit moved to the best achievable value.
    const moved: LinearConstraint = { ...con, cap: best, tol: Math.max(con.tol, Math.abs(best) * 1e-12) };
    const rows = cons.map((c, j) => (j === k ? moved : c));
    const r = search(problem, { goal: objectiveGoal(problem), constraints: rows, cuts: opts.cuts, hint: t.plan });
    const nearest = r.plan ?? t.plan!;
    const others = analyses
      .filter((a) => a !== t)
      .map((a) =>
        a.bestAchievable === null
          ? `relaxing ${TITLE[a.name]} alone is not enough`
          : `${TITLE[a.name]} would have to move ${(a.relativeMove! * 100).toFixed(0)}% (to ${fmt(a.name, a.bestAchievable)})`,
      );
    const message =
      `No plan meets the constraints. The tightest is ${TITLE[t.name]}: ${limitText(t.name, t.limit)}, but ${bestText(t.name, best)}. ` +
      `Nearest plan: ${describePlan(problem, nearest)}.` +
      (others.length ? ` Otherwise ${others.join('; ')}.` : '');
    return { message, tightest: t.name, limit: t.limit, bestAchievable: best, nearest, singleRelaxation: true, constraints };
  }

  // No single relaxation admits a plan: minimise the summed relative violation, piece by piece.
  const unconstrained = search(problem, { goal: objectiveGoal(problem), constraints: [], cuts: opts.cuts });
  if (!unconstrained.plan) {
    throw new CoreError(
      'plan-problem-invalid',
      'Planning problem is inconsistent: no plan is possible at all (allowedBits / allowedActivationBits or the requested cuts leave no cut with options). Fix the problem file.',
    );
  }
  const den = cons.map((c) => relativeDenominator(c.name, c.cap));
  const violation = (plan: Plan): number => {
    const q = planQuantities(plan);
    let s = 0;
    cons.forEach((c, k) => (s += Math.max(0, (linearValue(c.coef, q) - c.cap) / den[k])));
    return s;
  };
  let nearest = unconstrained.plan;
  let bestViolation = violation(nearest);
  for (let mask = 1; mask < 1 << cons.length; mask++) {
    const goal = [0, 0, 0, 0, 0];
    const rows: LinearConstraint[] = [];
    cons.forEach((c, k) => {
      if (mask & (1 << k)) {
        goal[CONSTRAINT_QUANTITY[c.name]] += 1 / den[k];
        rows.push({ name: `${c.name}>=`, coef: c.coef.map((x) => -x), cap: -c.cap, tol: 0 });
      } else rows.push(c);
    });
    const r = search(problem, { goal, constraints: rows, cuts: opts.cuts });
    if (r.plan && violation(r.plan) < bestViolation) {
      bestViolation = violation(r.plan);
      nearest = r.plan;
    }
  }
  const q = planQuantities(nearest);
  const excess = cons.map((c, k) => ({ c, v: linearValue(c.coef, q), rel: (linearValue(c.coef, q) - c.cap) / den[k] }));
  const worst = excess.reduce((a, b) => (b.rel > a.rel ? b : a));
  const over = excess.filter((e) => e.rel > 0).map((e) => `${TITLE[e.c.name]} (${fmt(e.c.name, e.c.cap)}) by ${fmt(e.c.name, e.v - e.c.cap)}`);
  const message =
    'No plan meets the constraints, and relaxing any single one of them is not enough. ' +
    `The plan with the smallest summed relative violation: ${describePlan(problem, nearest)}; it exceeds ${over.join(' and ')}.`;
  return { message, tightest: worst.c.name, limit: worst.c.cap, bestAchievable: worst.v, nearest, singleRelaxation: false, constraints };
}
