import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addFashionMnist } from '../../core/host/datasets.js';
import { importModel } from '../../core/host/models.js';
import { buildPlanningProblem, parseBudget, parseObjective, resolveDevice, resolveLink, seedPresets, solveWithBaselines } from '../../core/host/planning.js';
import { estimateDegradation } from '../../core/host/sensitivity.js';
import { evaluatePlan } from '../../core/plan/planCost.js';
import { validateProblem } from '../../core/plan/solver.js';
import type { SqliteStore } from '../../core/store/sqliteStore.js';
import { PPOCR, ZOO, tempStore } from '../helpers.js';

let store: SqliteStore;
let cleanup: () => void;
beforeAll(async () => {
  ({ store, cleanup } = tempStore());
  addFashionMnist(store);
  seedPresets(store);
  await importModel(store, ZOO[1].file);
  await importModel(store, PPOCR[0].file, { name: 'det' });
  await estimateDegradation(store, 'fmnist-resnet', { dataset: 'fashion-mnist-train', samples: 300, bits: [8, 4, 2] });
});
afterAll(() => cleanup());

const request = (over: Record<string, unknown> = {}) => ({
  model: 'fmnist-resnet',
  device: 'raspberry-pi-4b',
  link: 'lte',
  objective: parseObjective('latency'),
  constraints: { maxDegradation: 0.01, enforceMemory: true, headCached: false },
  ...over,
});

describe('planning a real model', () => {
  it('builds a valid problem from the store and solves it; the plan re-evaluates to the same numbers', async () => {
    const problem = await buildPlanningProblem(store, request());
    expect(validateProblem(JSON.parse(JSON.stringify(problem)))).toBeTruthy();
    expect(problem.layers.length).toBe(33);
    // The residual net's cut sets cross several tensors somewhere.
    expect(Math.max(...problem.cuts.map((c) => c.tensors.length))).toBeGreaterThanOrEqual(2);
    const r = solveWithBaselines(problem);
    expect(r.result.status).toBe('optimal');
    if (r.result.status !== 'optimal') return;
    const p = r.result.plan;
    expect(p.degradation).toBeLessThanOrEqual(0.01 + 1e-12);
    const again = evaluatePlan(problem, p.cut, p.bits, p.activationBits);
    expect(again.latencyMs).toBe(p.latencyMs);
    // The optimum is never worse than any baseline that meets the same constraints.
    for (const b of Object.values(r.baselines)) if (b?.feasible.all) expect(p.objective).toBeLessThanOrEqual(b.objective + 1e-9);
  });

  it('prices multi-tensor cuts of PP-OCR det (estimator none: cut choice only)', async () => {
    const problem = await buildPlanningProblem(store, request({ model: 'det', estimator: 'none', inputShape: { '*': [1, 3, 96, 96] } }));
    const multi = problem.cuts.find((c) => c.tensors.length >= 2)!;
    expect(multi).toBeDefined();
    const fp32 = multi.options.find((o) => o.bits === 32)!;
    expect(fp32.bytes).toBe(multi.elements * 4);
    expect(solveWithBaselines(problem).result.status).toBe('optimal');
  });

  it('an infeasible request is a report, not an error', async () => {
    const problem = await buildPlanningProblem(store, request({ constraints: { maxDegradation: 0.01, sloMs: 0.001, enforceMemory: true, headCached: false } }));
    const r = solveWithBaselines(problem).result;
    expect(r.status).toBe('infeasible');
    if (r.status === 'infeasible') {
      expect(r.report.tightest).toBe('latency');
      expect(r.report.message).toMatch(/No plan meets the constraints/);
    }
  });

  it('bad input gives clear errors', async () => {
    expect(() => resolveDevice(store, 'toaster')).toThrow(expect.objectContaining({ code: 'device-unknown' }));
    expect(() => resolveLink(store, 'carrier-pigeon')).toThrow(expect.objectContaining({ code: 'link-unknown' }));
    expect(() => parseBudget('150%')).toThrow(expect.objectContaining({ code: 'plan-budget-invalid' }));
    expect(() => parseObjective('weighted:1,-1,0')).toThrow(expect.objectContaining({ code: 'plan-objective-invalid' }));
    await expect(buildPlanningProblem(store, request({ model: 'det' }))).rejects.toMatchObject({ code: 'plan-no-estimator' });
    const problem = await buildPlanningProblem(store, request());
    const broken = JSON.parse(JSON.stringify(problem));
    broken.layers[3].options = [];
    expect(() => validateProblem(broken)).toThrow(expect.objectContaining({ code: 'plan-problem-invalid' }));
    const negative = JSON.parse(JSON.stringify(problem));
    negative.link.uplinkBps = -5;
    expect(() => validateProblem(negative)).toThrow(expect.objectContaining({ code: 'plan-problem-invalid' }));
  });
});

describe('Pareto SVG', () => {
  it('draws every front plan, the knee and the labelled baselines', async () => {
    const { paretoFront } = await import('../../core/plan/pareto.js');
    const { computeBaselines } = await import('../../core/plan/baselines.js');
    const { paretoSvg } = await import('../../core/host/paretoSvg.js');
    const problem = await buildPlanningProblem(store, request());
    const front = paretoFront(problem, { points: 10 });
    const svg = paretoSvg(front.plans, front.knee, computeBaselines(problem), 'test');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect((svg.match(/<circle/g) ?? []).length).toBeGreaterThanOrEqual(front.plans.length + 1);
    expect(svg).toContain('Neurosurgeon');
  });
});
