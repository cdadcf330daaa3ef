/**
 * The live view's planner (core/plan/explore.ts) keeps the budget-independent work of a problem; what it answers must
 * be what the uncached functions answer for the same problem: paretoFront, solve and computeBaselines.
 */
import { describe, expect, it } from 'vitest';
import type { Plan, PlanningProblem } from '../../core/api/planning.js';
import { computeBaselines } from '../../core/plan/baselines.js';
import { ProblemExplorer } from '../../core/plan/explore.js';
import { paretoFront } from '../../core/plan/pareto.js';
import { solve } from '../../core/plan/solver.js';
import { randomProblem } from './randomProblem.js';

const key = (p: Plan | null) => (p ? `${p.cut}|${p.bits.join(',')}|${p.activationBits}` : 'none');
const withCaps = (p: PlanningProblem, c: Partial<PlanningProblem['constraints']>, objective = p.objective): PlanningProblem => ({ ...p, objective, constraints: { ...p.constraints, ...c } });

describe('ProblemExplorer', () => {
  const p = randomProblem(7, { layers: 14, options: 5, actOptions: 3, withSlo: true, withMemory: true, headCached: false, objective: { latency: 1, energy: 5, cost: 100 }, maxDegradation: 0.01 });

  it('answers budget, SLO and objective edits as the uncached front, solve and baselines do', () => {
    const ex = new ProblemExplorer(p);
    const sloMs = p.constraints.sloMs!;
    const edits: PlanningProblem[] = [
      ...[0.002, 0.02, 0.005, 0.01, 0.0005, 0.03, 0].map((b) => withCaps(p, { maxDegradation: b })),
      withCaps(p, { maxDegradation: 0.01, sloMs: sloMs * 0.7 }),
      withCaps(p, { maxDegradation: 0.01, sloMs: undefined }),
      withCaps(p, { maxDegradation: 0.004 }, { latency: 0, energy: 1, cost: 0 }),
      withCaps(p, { maxDegradation: 0.004, headCached: true, enforceMemory: false }),
      withCaps(p, { maxDegradation: 0.004, allowedBits: [32, 8] }),
    ];
    for (const q of [...edits, ...edits]) {
      const r = { objective: q.objective, constraints: q.constraints, points: 12 };
      const got = ex.explore(r);
      const direct = paretoFront(q, { points: 12 });
      expect(got.front.plans.map(key)).toEqual(direct.plans.map(key));
      expect(got.front.knee).toBe(direct.knee);
      const s = solve(q);
      expect(got.solve.status).toBe(s.status);
      if (got.solve.status === 'optimal' && s.status === 'optimal') expect(got.solve.plan).toEqual(s.plan);
      if (got.solve.status === 'infeasible' && s.status === 'infeasible') expect(got.solve.report).toEqual(s.report);
      const b = Object.values(computeBaselines(q)).filter((x) => x !== null);
      expect(ex.baselines(r)).toEqual(b);
    }
  });

  it('keeps the sweep per constraint shape: a budget edit reuses it, another SLO does not', () => {
    const ex = new ProblemExplorer(p);
    const first = ex.explore({ constraints: { ...p.constraints, maxDegradation: 0.01 }, points: 10 });
    const again = ex.explore({ constraints: { ...p.constraints, maxDegradation: 0.002 }, points: 10 });
    // The same sweep (its solves and time) plus one solve, the own optimum.
    expect(again.front.stats.solves).toBe(first.front.stats.solves);
    expect(again.front.stats.solveMs - again.solve.stats.solveMs).toBeCloseTo(first.front.stats.solveMs - first.solve.stats.solveMs, 0);
    const slower = ex.explore({ constraints: { ...p.constraints, maxDegradation: 0.002, sloMs: p.constraints.sloMs! * 2 }, points: 10 });
    expect(slower.front.stats.solveMs - slower.solve.stats.solveMs).not.toBe(first.front.stats.solveMs - first.solve.stats.solveMs);
    // The defaults are the problem's own objective and constraints.
    expect(ex.explore({ points: 10 }).solve).toMatchObject({ status: solve(p).status });
  });
});
