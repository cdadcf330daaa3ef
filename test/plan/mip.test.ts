/**
 * (b) The solver against an independent MIP (core/plan/mipModel.ts, solved by HiGHS with mip_rel_gap 0 and tight
 * tolerances, MIP_OPTIONS) on large random problems with an SLO and a memory limit. HiGHS's plan is re-evaluated
 * with evaluatePlan, so both sides are compared on the same cost model.
 */
import { describe, expect, it } from 'vitest';
import { toCplexLp } from '../../core/plan/mipModel.js';
import { evaluatePlan, isFeasible } from '../../core/plan/planCost.js';
import { solve } from '../../core/plan/solver.js';
import { MIP_OPTIONS } from '../../core/plan/solverBench.js';
import { median } from '../../core/util/stats.js';
import { relClose } from './bruteForce.js';
import { loadHighs } from './highs.js';
import { randomProblem } from './randomProblem.js';


describe('solver vs HiGHS MIP', () => {
  it('20 random problems, 40-60 layers x 7 precisions x 4 activation precisions, SLO and memory: same optimum to 1e-9', async () => {
    const highs = await loadHighs();
    const ours: number[] = [];
    const theirs: number[] = [];
    let optimal = 0;
    for (let s = 0; s < 20; s++) {
      const p = randomProblem(7000 + s, { layers: 40 + ((s * 7) % 21), options: 7, actOptions: 4, withSlo: true, withMemory: true });
      const t0 = performance.now();
      const r = solve(p);
      ours.push(performance.now() - t0);
      const model = toCplexLp(p);
      const t1 = performance.now();
      const sol = highs.solve(model.lp, MIP_OPTIONS);
      theirs.push(performance.now() - t1);
      if (sol.Status === 'Infeasible') {
        expect(r.status, `seed ${7000 + s}`).toBe('infeasible');
        continue;
      }
      expect(sol.Status, `seed ${7000 + s}`).toBe('Optimal');
      expect(r.status, `seed ${7000 + s}`).toBe('optimal');
      if (r.status !== 'optimal') continue;
      optimal++;
      const c = model.decode(sol.Columns);
      const hp = evaluatePlan(p, c.cut, c.bits, c.activationBits);
      // HiGHS's answer meets the constraints exactly (not just within its tolerances) ...
      expect(isFeasible(p, hp), `seed ${7000 + s}: HiGHS plan infeasible by the exact test`).toBe(true);
      // ... and has the same objective as ours.
      expect(relClose(r.plan.objective, hp.objective), `seed ${7000 + s}: ours ${r.plan.objective}, HiGHS ${hp.objective}`).toBe(true);
      expect(relClose(r.plan.objective, sol.ObjectiveValue / model.objectiveScale), `seed ${7000 + s}: HiGHS objective value ${sol.ObjectiveValue}`).toBe(true);
    }
    console.log(`MIP cross-check (b): ${optimal} optimal / 20; median solve ours ${median(ours).toFixed(2)} ms, HiGHS ${median(theirs).toFixed(1)} ms`);
    expect(optimal).toBeGreaterThanOrEqual(12);
  });
});
