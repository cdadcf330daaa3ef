/**
 * QPART's offline/online split (shared/SCIENCE.md, "Sources": "an offline table per (cut, accuracy level) and an
 * online pick per request"). Offline, for every link class, accuracy level and cut, the exact solver restricted to
 * that cut gives the optimal bits; online, a request's (link, budget) picks the entry with the highest accuracy
 * level <= its budget and, among the cuts, the best objective: a lookup, not a solve.
 *
 * The table is exact for the budgets it stores; a request whose budget lies between two levels gets the optimum of
 * the lower level (feasible, possibly not optimal for its own budget). Everything else (device, server, objective,
 * SLO, memory) comes from the template.
 */
import { CoreError } from '../api/errors.js';
import type { LinkParams, Plan, PlanningProblem } from '../api/planning.js';
import { DEGRADATION_TOLERANCE, Q_DEGRADATION, objectiveGoal, standardConstraints, unitGoal } from './planCost.js';
import { compileSearch } from './search.js';

export interface PlanTableOptions {
  cuts: 'all' | readonly number[];
  /** Degradation budgets to precompute (fractions; 0.01 = one percentage point). */
  accuracyLevels: readonly number[];
  links: readonly LinkParams[];
}

export interface PlanTableEntry {
  link: string;
  accuracyLevel: number;
  cut: number;
  /** null: no plan at this cut meets the budget and the template's other constraints. */
  plan: Plan | null;
}

export interface PlanTable {
  model: string;
  links: string[];
  /** Ascending, distinct. */
  accuracyLevels: number[];
  cuts: number[];
  /** All entries, link-major, then cut, then level. */
  entries: PlanTableEntry[];
  /** best[link][level]: index into entries of the best plan over the cuts, -1 if none. */
  best: number[][];
  stats: { buildMs: number; solves: number };
}

export function buildPlanTable(template: PlanningProblem, opts: PlanTableOptions): PlanTable {
  const t0 = performance.now();
  const L = template.layers.length;
  const cuts = opts.cuts === 'all' ? Array.from({ length: L + 1 }, (_, c) => c) : [...new Set(opts.cuts)].filter((c) => Number.isInteger(c) && c >= 0 && c <= L).sort((a, b) => a - b);
  const levels = [...new Set(opts.accuracyLevels)].sort((a, b) => a - b);
  const names = opts.links.map((l) => l.name);
  if (new Set(names).size !== names.length) throw new CoreError('plan-table-invalid', `Link classes need distinct names; got ${names.join(', ')}.`);
  const entries: PlanTableEntry[] = [];
  const best: number[][] = [];
  let solves = 0;
  for (const link of opts.links) {
    const problem: PlanningProblem = { ...template, link };
    const others = standardConstraints(problem).filter((c) => c.name !== 'degradation');
    const compiled = compileSearch(problem, objectiveGoal(problem), [unitGoal(Q_DEGRADATION), ...others.map((c) => c.coef)]);
    const bestHere = levels.map(() => -1);
    for (const c of cuts) {
      let hint: Plan | null = null;
      levels.forEach((level, li) => {
        solves++;
        const r = compiled.run({
          constraints: [{ name: 'degradation', coef: unitGoal(Q_DEGRADATION), cap: level, tol: DEGRADATION_TOLERANCE }, ...others],
          cuts: [c],
          hint,
        });
        if (r.plan) hint = r.plan;
        entries.push({ link: link.name, accuracyLevel: level, cut: c, plan: r.plan });
        const b = bestHere[li];
        if (r.plan && (b < 0 || r.plan.objective < entries[b].plan!.objective)) bestHere[li] = entries.length - 1;
      });
    }
    best.push(bestHere);
  }
  return { model: template.model.name, links: names, accuracyLevels: levels, cuts, entries, best, stats: { buildMs: performance.now() - t0, solves } };
}

/**
 * The online pick: the best stored plan for a link class under a degradation budget (the highest accuracy level
 * <= the budget, best objective over the cuts). null when no level is within the budget or no cut had a plan.
 */
export function lookupPlan(table: PlanTable, linkName: string, maxDegradation: number): Plan | null {
  const li = table.links.indexOf(linkName);
  if (li < 0) throw new CoreError('plan-table-unknown-link', `The plan table has no link class "${linkName}"; it has ${table.links.join(', ')}.`);
  const levels = table.accuracyLevels;
  let lo = 0;
  let hi = levels.length - 1;
  let at = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (levels[mid] <= maxDegradation + DEGRADATION_TOLERANCE) {
      at = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (at < 0) return null;
  const e = table.best[li][at];
  return e >= 0 ? table.entries[e].plan : null;
}
