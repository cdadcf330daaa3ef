/**
 * QPART's per-request planner: the exact joint choice of the cut, the weight bits of every head layer and the
 * activation bits on the link (shared/SCIENCE.md, "The model of a request" and "The solver"). The cost model is
 * planCost.ts; the exact search (MCKP per (cut, activation) with Lagrangian/LP bounds and a bounded dynamic
 * program, outer loop ordered by bounds) is search.ts. Infeasibility is a normal result with a report
 * (infeasibility.ts), never an exception.
 */
import type { Plan, PlanningProblem } from '../api/planning.js';
import { explainInfeasibility, type InfeasibilityReport } from './infeasibility.js';
import { objectiveGoal, standardConstraints } from './planCost.js';
import { compileSearch, type CompiledSearch, type PlanChoice } from './search.js';

export { validateProblem } from './validate.js';
export type { InfeasibilityReport } from './infeasibility.js';
export type { PlanChoice } from './search.js';

export interface SolveOptions {
  /** Only consider these cut positions (the offline table solves one cut at a time). */
  cuts?: readonly number[];
  /** A plan known to be good (e.g. the optimum at a tighter budget): it seeds the incumbent if it is feasible. */
  hint?: PlanChoice | null;
  /**
   * The search compiled once for this problem's objective and constraint rows (compileSearch(problem,
   * objectiveGoal(problem), standardConstraints(problem).map((r) => r.coef))), reused across solves that differ only
   * in their caps, e.g. budget edits in the live view. Built here when absent.
   */
  compiled?: CompiledSearch;
}

export interface SolveStats {
  /** Wall time of the solve, including the infeasibility analysis when there is one. */
  solveMs: number;
  /** (cut, activation) subproblems that had to be searched. */
  subproblems: number;
  /** Search nodes: depth-first dive nodes plus dynamic-programming states generated. */
  nodes: number;
  /** (cut, activation) pairs considered. */
  candidates: number;
}

export type SolveResult =
  | { status: 'optimal'; plan: Plan; stats: SolveStats }
  | { status: 'infeasible'; report: InfeasibilityReport; stats: SolveStats };

/** The optimal plan for the problem's objective and constraints, or an infeasibility report. */
export function solve(problem: PlanningProblem, opts: SolveOptions = {}): SolveResult {
  const t0 = performance.now();
  const rows = standardConstraints(problem);
  const compiled = opts.compiled ?? compileSearch(problem, objectiveGoal(problem), rows.map((r) => r.coef));
  const r = compiled.run({ constraints: rows, cuts: opts.cuts, hint: opts.hint });
  const stats = (): SolveStats => ({ solveMs: performance.now() - t0, subproblems: r.stats.subproblems, nodes: r.stats.nodes, candidates: r.stats.candidates });
  if (r.plan) return { status: 'optimal', plan: r.plan, stats: stats() };
  const report = explainInfeasibility(problem, { cuts: opts.cuts });
  return { status: 'infeasible', report, stats: stats() };
}
