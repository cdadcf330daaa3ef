/** (d) The Pareto front: non-dominated, sorted, contains the optimum; its knee; its speed on a ResNet-50-scale problem. */
import { describe, expect, it } from 'vitest';
import type { Plan, PlanningProblem } from '../../core/api/planning.js';
import { kneeIndex, paretoFront, paretoFrontSliced, withOwnOptimum } from '../../core/plan/pareto.js';
import { checkConstraints, objectiveGoal, standardConstraints } from '../../core/plan/planCost.js';
import { compileSearch } from '../../core/plan/search.js';
import { benchProblem } from '../../core/plan/solverBench.js';
import { solve } from '../../core/plan/solver.js';
import { median } from '../../core/util/stats.js';
import { enumeratePlans, relClose } from './bruteForce.js';
import { randomProblem } from './randomProblem.js';

const q = (p: Plan): number[] => [p.latencyMs, p.energyJ, p.degradation, p.costUsd];
function dominates(a: Plan, b: Plan): boolean {
  const qa = q(a);
  const qb = q(b);
  return qa.every((x, i) => x <= qb[i]) && qa.some((x, i) => x < qb[i]);
}
/** Meets the SLO and memory constraints (the front ignores the problem's own budget). */
const meetsNonBudget = (p: PlanningProblem, plan: Plan): boolean => checkConstraints(p, plan).checks.every((c) => c.name === 'degradation' || c.ok);

describe('Pareto front', () => {
  it('is non-dominated, sorted by latency, within SLO and memory, and contains the optimum (random problems)', () => {
    for (let s = 0; s < 6; s++) {
      const p = randomProblem(400 + s, { layers: 12, options: 5, actOptions: 3, withSlo: s % 2 === 0, withMemory: s % 3 === 0, objective: { latency: 1, energy: 20, cost: 1e5 } });
      const front = paretoFront(p, { points: 20 });
      const opt = solve(p);
      if (opt.status !== 'optimal') {
        continue;
      }
      expect(front.plans.length).toBeGreaterThan(0);
      for (let i = 0; i < front.plans.length; i++) {
        const a = front.plans[i];
        expect(meetsNonBudget(p, a)).toBe(true);
        if (i > 0) expect(a.latencyMs).toBeGreaterThanOrEqual(front.plans[i - 1].latencyMs);
        for (const b of front.plans) if (a !== b) expect(dominates(b, a)).toBe(false);
      }
      // the problem's optimum (at its own budget) and the unbudgeted optimum
      expect(front.plans.some((x) => relClose(x.objective, opt.plan.objective) && x.degradation <= p.constraints.maxDegradation + 1e-12)).toBe(true);
      const free = solve({ ...p, constraints: { ...p.constraints, maxDegradation: 1 } });
      if (free.status === 'optimal') expect(front.plans.some((x) => relClose(x.objective, free.plan.objective))).toBe(true);
      expect(front.knee).toBeGreaterThanOrEqual(0);
      expect(front.knee).toBeLessThan(front.plans.length);
    }
  });

  it('no enumerated plan dominates a front plan (small problems, brute force)', () => {
    for (let s = 0; s < 5; s++) {
      const p = randomProblem(600 + s, { layers: 5, options: 3, actOptions: 2, withSlo: s % 2 === 1, withMemory: false, objective: { latency: 1, energy: 50, cost: 1e5 } });
      const front = paretoFront(p, { points: 30 });
      const all: Plan[] = [];
      enumeratePlans(p, (x) => {
        if (meetsNonBudget(p, x)) all.push(x);
      });
      for (const f of front.plans) {
        const d = all.find((x) => dominates(x, f));
        expect(d, `${p.model.name}: plan cut ${f.cut} ${f.bits} dominated by cut ${d?.cut} ${d?.bits}`).toBeUndefined();
      }
    }
  });

  it('knee: the plan farthest from the line between the extremes in normalised (latency, degradation)', () => {
    const mk = (latencyMs: number, degradation: number): Plan => ({ latencyMs, degradation }) as Plan;
    // (0,1) (0.2,0.2) (0.5,0.1) (1,0): the farthest from x + y = 1 is (0.2, 0.2)
    expect(kneeIndex([mk(10, 0.01), mk(12, 0.002), mk(15, 0.001), mk(20, 0)])).toBe(1);
    expect(kneeIndex([])).toBe(-1);
    expect(kneeIndex([mk(1, 1)])).toBe(0);
  });

  it('50-point front of the ResNet-50-scale benchmark problem', () => {
    const p = benchProblem();
    paretoFront(p, { points: 50 }); // warm-up
    const times: number[] = [];
    let front = paretoFront(p, { points: 50 });
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      front = paretoFront(p, { points: 50 });
      times.push(performance.now() - t0);
    }
    console.log(`Pareto (d): 50 budgets x ${front.stats.solves > 200 ? 4 : 3} weightings = ${front.stats.solves} solves, ${front.plans.length} plans, knee at ${front.knee}; median ${median(times).toFixed(0)} ms`);
    expect(front.plans.length).toBeGreaterThan(5);
    const own = solve(p);
    expect(own.status).toBe('optimal');
    if (own.status === 'optimal') expect(front.plans.some((x) => relClose(x.objective, own.plan.objective))).toBe(true);
    for (const x of front.plans) expect(meetsNonBudget(p, x)).toBe(true);
  });

  it('a budget edit reuses the loose-budget sweep: front(loose) plus the own optimum equals the front (live notebook path)', () => {
    const p = benchProblem();
    const key = (plans: Plan[]) => plans.map((x) => `${x.cut}|${x.bits.join(',')}|${x.activationBits}`).join(';');
    const base = paretoFront({ ...p, constraints: { ...p.constraints, maxDegradation: 1 } }, { points: 12 });
    for (const b of [0.001, 0.01, 0.03]) {
      const problem: PlanningProblem = { ...p, constraints: { ...p.constraints, maxDegradation: b } };
      const direct = paretoFront(problem, { points: 12 });
      const s = solve(problem);
      const merged = withOwnOptimum(base, s.status === 'optimal' ? s.plan : null);
      expect(key(merged.plans)).toBe(key(direct.plans));
      expect(merged.knee).toBe(direct.knee);
    }
  });

  it('reusing the caller\'s compiled search gives the same front (random problems)', () => {
    const key = (plans: Plan[]) => plans.map((x) => `${x.cut}|${x.bits.join(',')}|${x.activationBits}`).join(';');
    for (let s = 0; s < 6; s++) {
      const p = randomProblem(700 + s, { layers: 10, options: 5, actOptions: 3, withSlo: s % 2 === 0, withMemory: s % 3 === 0, objective: { latency: 1, energy: s, cost: 1e4 } });
      const compiled = compileSearch(p, objectiveGoal(p), standardConstraints(p).map((r) => r.coef));
      expect(key(paretoFront(p, { points: 10, compiled }).plans)).toBe(key(paretoFront(p, { points: 10 }).plans));
    }
  });

  it('a coarse sweep: few solves, non-dominated, within SLO and memory, and the own optimum on it', () => {
    for (let s = 0; s < 6; s++) {
      const p = randomProblem(800 + s, { layers: 12, options: 5, actOptions: 3, withSlo: s % 2 === 0, withMemory: s % 3 === 0, objective: { latency: 1, energy: 20, cost: 1e5 } });
      const coarse = paretoFront(p, { points: 6, sweep: 'coarse' });
      const full = paretoFront(p, { points: 50 });
      const opt = solve(p);
      if (opt.status !== 'optimal') continue;
      expect(coarse.stats.solves).toBe(9);
      expect(coarse.plans.length).toBeGreaterThan(0);
      for (const a of coarse.plans) {
        expect(meetsNonBudget(p, a)).toBe(true);
        for (const b of coarse.plans) expect(dominates(b, a)).toBe(false);
      }
      // Not a subset of the full front: its budgets differ, so a coarse plan may fall between the full front's.
      expect(full.plans.length).toBeGreaterThanOrEqual(coarse.plans.length);
      expect(coarse.plans.some((x) => relClose(x.latencyMs, opt.plan.latencyMs) && relClose(x.degradation, opt.plan.degradation))).toBe(true);
    }
  });

  it('paretoFrontSliced: the same front as paretoFront, yielding to the event loop between slices; abandoned by its signal', async () => {
    const key = (f: { plans: Plan[]; knee: number }) => JSON.stringify([f.plans.map((p) => [p.cut, p.bits, p.activationBits]), f.knee]);
    const p = benchProblem();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const sliced = await paretoFrontSliced(p, { points: 10, sliceMs: 2 });
    clearInterval(timer);
    const whole = paretoFront(p, { points: 10 });
    expect(key(sliced)).toBe(key(whole));
    expect(sliced.stats.solves).toBe(whole.stats.solves);
    expect(ticks).toBeGreaterThan(0);
    for (const seed of [1, 2, 3]) {
      const r = randomProblem(seed, { layers: 8, options: 4, actOptions: 3, withSlo: seed === 2, withMemory: true, headCached: false, objective: { latency: 1, energy: 1, cost: 1 }, maxDegradation: 0.02 });
      expect(key(await paretoFrontSliced(r, { points: 8, sweep: seed === 3 ? 'coarse' : 'full', sliceMs: 0 }))).toBe(key(paretoFront(r, { points: 8, sweep: seed === 3 ? 'coarse' : 'full' })));
    }
    const c = new AbortController();
    const pending = paretoFrontSliced(p, { points: 50, sliceMs: 1, signal: c.signal });
    c.abort(new Error('superseded'));
    await expect(pending).rejects.toThrow('superseded');
  });
});
