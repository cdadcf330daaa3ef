/** (c) The infeasibility report: the tightest constraint, the best achievable value, the nearest plan. */
import { describe, expect, it } from 'vitest';
import type { Plan, PlanningProblem } from '../../core/api/planning.js';
import { relativeDenominator, type InfeasibilityReport } from '../../core/plan/infeasibility.js';
import { checkConstraints, type ConstraintName } from '../../core/plan/planCost.js';
import { solve } from '../../core/plan/solver.js';
import { mulberry32 } from '../../core/util/random.js';
import { bruteForceBest, relClose } from './bruteForce.js';
import { randomProblem } from './randomProblem.js';
import { tinyProblem } from './tinyProblem.js';

function report(p: PlanningProblem): InfeasibilityReport {
  const r = solve(p);
  if (r.status !== 'infeasible') throw new Error('expected an infeasible problem');
  return r.report;
}

const QUANTITY: Record<ConstraintName, (p: Plan) => number> = {
  degradation: (p) => p.degradation,
  latency: (p) => p.latencyMs,
  memory: (p) => p.deviceMemoryBytes,
};

/** Meets every constraint except `skip`. */
function meetsOthers(problem: PlanningProblem, plan: Plan, skip: ConstraintName): boolean {
  return checkConstraints(problem, plan).checks.every((c) => c.name === skip || c.ok);
}

function violation(problem: PlanningProblem, plan: Plan): number {
  return checkConstraints(problem, plan).checks.reduce((s, c) => s + Math.max(0, (c.value - c.limit) / relativeDenominator(c.name, c.limit)), 0);
}

/** Every option and cut option degrades by 0.001 more than in the tiny problem. */
function degradingEverywhere(): PlanningProblem {
  const p = tinyProblem();
  for (const l of p.layers) for (const o of l.options) o.degradation += 0.001;
  for (const c of p.cuts) for (const o of c.options) o.degradation += 0.001;
  return p;
}

describe('infeasibility report', () => {
  it('names the accuracy budget when only the budget is unreachable', () => {
    const p = degradingEverywhere();
    p.constraints.maxDegradation = 0.0005;
    const rep = report(p);
    expect(rep.tightest).toBe('degradation');
    expect(rep.singleRelaxation).toBe(true);
    expect(rep.limit).toBe(0.0005);
    // least achievable degradation: full offload with FP32 input, 0.001
    expect(rep.bestAchievable).toBeCloseTo(0.001, 12);
    expect(rep.nearest.cut).toBe(0);
    expect(rep.nearest.activationBits).toBe(32);
    expect(rep.message).toMatch(/^No plan meets the constraints\. The tightest is the accuracy budget: at most 0\.05% degradation, but the best achievable under the other constraints is 0\.10%\. Nearest plan: full offload/);
    // memory cannot be relaxed alone: the budget is still unmet
    expect(rep.constraints.find((c) => c.name === 'memory')!.bestAchievable).toBeNull();
  });

  it('names the latency SLO when nothing is fast enough', () => {
    const p = tinyProblem();
    p.constraints.sloMs = 5;
    const rep = report(p);
    expect(rep.tightest).toBe('latency');
    const fastest = bruteForceBest(p, (x) => meetsOthers(p, x, 'latency'), (x) => x.latencyMs)!;
    expect(rep.bestAchievable).toBeCloseTo(fastest.latencyMs, 9);
    expect(rep.bestAchievable).toBeCloseTo(13.5, 9); // device only, 8-bit weights: 1.5 ms download + 12 ms compute
    expect(rep.nearest.latencyMs).toBeCloseTo(13.5, 9);
    expect(rep.message).toContain('The tightest is the latency SLO: at most 5.00 ms, but the fastest plan under the other constraints takes 13.5 ms.');
  });

  it('names the device memory when it must move least (relative)', () => {
    const p = tinyProblem();
    p.constraints.maxDegradation = 0.003; // full offload with 8-bit input (0.004) is out
    p.constraints.sloMs = 50; // full offload with FP32 input (73.2 ms) is out
    p.device.memoryBytes = 4000; // every head (>= 6000 bytes with its activations) is out
    const rep = report(p);
    expect(rep.tightest).toBe('memory');
    expect(rep.bestAchievable).toBe(6000); // cut after conv1 at 8 bits: 1000 B weights + 5000 B activations
    expect(rep.nearest.cut).toBe(1);
    expect(rep.nearest.bits).toEqual([8]);
    expect(rep.nearest.activationBits).toBe(32);
    const byName = Object.fromEntries(rep.constraints.map((c) => [c.name, c]));
    expect(byName.degradation.bestAchievable).toBeCloseTo(0.004, 12);
    expect(byName.latency.bestAchievable).toBeCloseTo(73.2, 9);
    expect(byName.memory.relativeMove).toBeCloseTo(2000 / 2 ** 20, 12);
    expect(rep.message).toContain('The tightest is the device memory');
  });

  it('says so when no single relaxation is enough, and minimises the summed relative violation', () => {
    const p = degradingEverywhere();
    p.constraints.maxDegradation = 0;
    p.constraints.sloMs = 1;
    const rep = report(p);
    expect(rep.singleRelaxation).toBe(false);
    expect(rep.constraints.every((c) => c.bestAchievable === null)).toBe(true);
    const best = bruteForceBest(p, () => true, (x) => violation(p, x))!;
    expect(relClose(violation(p, rep.nearest), violation(p, best))).toBe(true);
    expect(rep.message).toMatch(/^No plan meets the constraints, and relaxing any single one of them is not enough\./);
  });

  it('agrees with brute force on random infeasible problems', () => {
    const rand = mulberry32(99);
    let seen = 0;
    let multi = 0;
    for (let s = 0; s < 400 && seen < 60; s++) {
      const p = randomProblem(9000 + s, {
        layers: 2 + Math.floor(rand() * 4),
        options: 2 + Math.floor(rand() * 3),
        actOptions: 1 + Math.floor(rand() * 3),
        withSlo: rand() < 0.7,
        withMemory: rand() < 0.7,
        maxDegradation: rand() < 0.5 ? 0 : 1e-4,
      });
      if (rand() < 0.5) for (const c of p.cuts) for (const o of c.options) o.degradation += 1e-4 * rand();
      const r = solve(p);
      if (r.status !== 'infeasible') continue;
      seen++;
      const rep = r.report;
      for (const a of rep.constraints) {
        const best = bruteForceBest(p, (x) => meetsOthers(p, x, a.name), QUANTITY[a.name]);
        if (best === null) expect(a.bestAchievable).toBeNull();
        else expect(relClose(a.bestAchievable!, QUANTITY[a.name](best)), `${p.model.name} ${a.name}`).toBe(true);
      }
      if (rep.singleRelaxation) {
        const moves = rep.constraints.filter((c) => c.relativeMove !== null).map((c) => c.relativeMove!);
        expect(rep.constraints.find((c) => c.name === rep.tightest)!.relativeMove).toBe(Math.min(...moves));
        // the nearest plan is the optimum once the tightest limit moves to the best achievable value
        const moved = structuredClone(p);
        if (rep.tightest === 'degradation') moved.constraints.maxDegradation = rep.bestAchievable;
        if (rep.tightest === 'latency') moved.constraints.sloMs = rep.bestAchievable;
        if (rep.tightest === 'memory') moved.device.memoryBytes = rep.bestAchievable;
        const opt = bruteForceBest(moved, (x) => checkConstraints(moved, x).ok)!;
        expect(relClose(rep.nearest.objective, opt.objective), p.model.name).toBe(true);
      } else {
        multi++;
        const best = bruteForceBest(p, () => true, (x) => violation(p, x))!;
        expect(relClose(violation(p, rep.nearest), violation(p, best)), p.model.name).toBe(true);
      }
    }
    console.log(`infeasibility (c): ${seen} random infeasible problems checked, ${multi} needing more than one relaxation`);
    expect(seen).toBeGreaterThan(20);
  });
});
