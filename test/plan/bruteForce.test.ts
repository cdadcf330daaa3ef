/**
 * (a) The solver against exhaustive enumeration: every (cut, bits, activation) of small random problems evaluated
 * with evaluatePlan; the optimum objective must agree to 1e-9 relative and infeasibility must agree.
 */
import { describe, expect, it } from 'vitest';
import type { PlanningProblem } from '../../core/api/planning.js';
import { isFeasible } from '../../core/plan/planCost.js';
import { solve } from '../../core/plan/solver.js';
import { mulberry32 } from '../../core/util/random.js';
import { bruteForceBest, relClose } from './bruteForce.js';
import { randomProblem } from './randomProblem.js';

function check(p: PlanningProblem): 'feasible' | 'infeasible' {
  const best = bruteForceBest(p, (plan) => isFeasible(p, plan));
  const r = solve(p);
  if (best === null) {
    expect(r.status).toBe('infeasible');
    return 'infeasible';
  }
  expect(r.status).toBe('optimal');
  if (r.status !== 'optimal') return 'feasible';
  expect(isFeasible(p, r.plan)).toBe(true);
  if (!relClose(r.plan.objective, best.objective)) {
    throw new Error(`objective ${r.plan.objective} vs brute force ${best.objective} (${p.model.name})`);
  }
  return 'feasible';
}

describe('solver vs brute force', () => {
  it('300 random small problems: same optimum to 1e-9, same infeasibility', () => {
    const rand = mulberry32(20250601);
    const counts = { feasible: 0, infeasible: 0, cached: 0, slo: 0, memory: 0 };
    for (let s = 0; s < 300; s++) {
      const headCached = s % 2 === 0;
      const withSlo = rand() < 0.5;
      const withMemory = rand() < 0.5;
      const p = randomProblem(1000 + s, {
        layers: 2 + Math.floor(rand() * 5),
        options: 2 + Math.floor(rand() * 3),
        actOptions: 1 + Math.floor(rand() * 3),
        withSlo,
        withMemory,
        headCached,
        // random budgets from 0 (FP32 only) to loose; objective weights random (some zero) from the generator
        maxDegradation: rand() < 0.1 ? 0 : Math.exp(Math.log(1e-4) + rand() * Math.log(500)),
      });
      counts[check(p)]++;
      if (headCached) counts.cached++;
      if (withSlo) counts.slo++;
      if (withMemory) counts.memory++;
    }
    console.log('brute force (a):', counts);
    expect(counts.infeasible).toBeGreaterThan(5);
    expect(counts.feasible).toBeGreaterThan(200);
  });

  it('200 more with restricted precisions, exact ties, negative degradations and single-quantity objectives', () => {
    const rand = mulberry32(7);
    let infeasible = 0;
    for (let s = 0; s < 200; s++) {
      const p = randomProblem(5000 + s, {
        layers: 1 + Math.floor(rand() * 6),
        options: 1 + Math.floor(rand() * 4),
        actOptions: 1 + Math.floor(rand() * 3),
        withSlo: rand() < 0.5,
        withMemory: rand() < 0.5,
      });
      const allowed = ([32, 8, 6, 4, 2] as const).filter(() => rand() < 0.6);
      if (rand() < 0.25 && allowed.length) p.constraints.allowedBits = [...allowed];
      const allowedAct = ([32, 16, 8, 4] as const).filter(() => rand() < 0.6);
      if (rand() < 0.25 && allowedAct.length) p.constraints.allowedActivationBits = [...allowedAct];
      if (rand() < 0.25) for (const l of p.layers) for (const o of l.options) if (rand() < 0.3) o.degradation = -Math.abs(o.degradation) * rand();
      if (rand() < 0.25) {
        // identical costs for two options of a layer (exact ties)
        for (const l of p.layers) {
          if (l.options.length < 2) continue;
          const [a, b] = l.options;
          Object.assign(b, { deviceTimeMs: a.deviceTimeMs, deviceEnergyJ: a.deviceEnergyJ, weightBytes: a.weightBytes });
        }
      }
      if (rand() < 0.2) p.objective = [{ latency: 1, energy: 0, cost: 0 }, { latency: 0, energy: 1, cost: 0 }, { latency: 0, energy: 0, cost: 1 }][Math.floor(rand() * 3)];
      if (check(p) === 'infeasible') infeasible++;
    }
    expect(infeasible).toBeGreaterThan(0);
  });
});
