/** QPART's offline table and online lookup. */
import { describe, expect, it } from 'vitest';
import { isCoreError } from '../../core/api/errors.js';
import type { LinkParams } from '../../core/api/planning.js';
import { buildPlanTable, lookupPlan } from '../../core/plan/planTable.js';
import { benchProblem } from '../../core/plan/solverBench.js';
import { solve } from '../../core/plan/solver.js';
import { median } from '../../core/util/stats.js';
import { relClose } from './bruteForce.js';
import { randomProblem } from './randomProblem.js';

const LINKS: LinkParams[] = [
  { name: 'wifi', uplinkBps: 50e6, downlinkBps: 100e6, rttMs: 5 },
  { name: 'lte', uplinkBps: 10e6, downlinkBps: 30e6, rttMs: 40 },
  { name: '3g', uplinkBps: 1e6, downlinkBps: 4e6, rttMs: 120 },
];

describe('plan table', () => {
  it('entries are the per-cut optima and lookups the global optimum at the highest level within the budget', () => {
    const p = randomProblem(31, { layers: 16, options: 5, actOptions: 3, withSlo: false, withMemory: true, objective: { latency: 1, energy: 20, cost: 1e5 } });
    const levels = [0.001, 0.005, 0.02];
    const table = buildPlanTable(p, { cuts: 'all', accuracyLevels: [0.02, 0.001, 0.005], links: LINKS.slice(0, 2) });
    expect(table.accuracyLevels).toEqual(levels);
    expect(table.entries.length).toBe(2 * 17 * 3);
    for (const e of table.entries.filter((_, i) => i % 7 === 0)) {
      const prob = { ...p, link: LINKS.find((l) => l.name === e.link)!, constraints: { ...p.constraints, maxDegradation: e.accuracyLevel } };
      const r = solve(prob, { cuts: [e.cut] });
      if (r.status === 'optimal') expect(relClose(e.plan!.objective, r.plan.objective)).toBe(true);
      else expect(e.plan).toBeNull();
    }
    for (const link of LINKS.slice(0, 2)) {
      for (const budget of [0.0005, 0.001, 0.003, 0.005, 0.05]) {
        const got = lookupPlan(table, link.name, budget);
        const level = [...levels].reverse().find((l) => l <= budget);
        if (level === undefined) {
          expect(got).toBeNull();
          continue;
        }
        const r = solve({ ...p, link, constraints: { ...p.constraints, maxDegradation: level } });
        if (r.status === 'optimal') expect(relClose(got!.objective, r.plan.objective)).toBe(true);
        else expect(got).toBeNull();
      }
    }
    try {
      lookupPlan(table, 'satellite', 0.01);
      expect.unreachable();
    } catch (e) {
      expect(isCoreError(e) && e.code).toBe('plan-table-unknown-link');
    }
  });

  it('build and lookup time on the ResNet-50-scale problem (3 links x 6 levels x 61 cuts)', () => {
    const p = benchProblem();
    const table = buildPlanTable(p, { cuts: 'all', accuracyLevels: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05], links: LINKS });
    const per: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      for (let j = 0; j < 100; j++) lookupPlan(table, LINKS[j % 3].name, 0.0005 + (j % 60) * 0.001);
      per.push(((performance.now() - t0) / 100) * 1000);
    }
    const hit = lookupPlan(table, 'lte', 0.01);
    console.log(
      `plan table: ${table.entries.length} entries (${table.entries.filter((e) => e.plan).length} feasible) built in ${table.stats.buildMs.toFixed(0)} ms; lookup median ${median(per).toFixed(3)} us`,
    );
    expect(hit).not.toBeNull();
    const r = solve({ ...p, link: LINKS[1], constraints: { ...p.constraints, maxDegradation: 0.01 } });
    if (r.status === 'optimal') expect(relClose(hit!.objective, r.plan.objective)).toBe(true);
  });
});
