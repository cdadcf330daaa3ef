/**
 * plan.register / plan.explore through the contract (arguments checked on the core side, as from the page): a
 * problem registered once and explored by id with objective and constraint overrides answers as the whole-problem
 * form does; unknown ids and malformed arguments are refused; the notebook's planning cache registers again when the
 * core has forgotten a problem.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiResult } from '../../core/api/contract.js';
import type { PlanningProblem } from '../../core/api/planning.js';
import { createHandlers } from '../../core/host/handlers.js';
import { evaluatePareto, PlanningCache, type PlanningApi } from '../../core/notebook/planning.js';
import { randomProblem } from '../../core/plan/randomProblem.js';
import { connectApi, type ApiClient } from '../../core/rpc/client.js';
import { memoryPorts } from '../../core/rpc/port.js';
import { serveApi } from '../../core/rpc/server.js';
import { tempStore } from '../helpers.js';

const problem: PlanningProblem = randomProblem(11, { layers: 12, options: 5, actOptions: 3, withSlo: true, withMemory: true, headCached: false, objective: { latency: 1, energy: 2, cost: 10 }, maxDegradation: 0.01 });
const planKey = (r: ApiResult<'plan.explore'>) =>
  JSON.stringify([r.front.plans.map((p) => [p.cut, p.bits, p.activationBits]), r.front.knee, r.solve.status === 'optimal' ? r.solve.plan : r.solve.report, r.baselines]);

describe('plan.register and plan.explore by id', () => {
  const t = tempStore();
  let api: ApiClient;
  let stop: () => void;
  beforeAll(() => {
    const core = createHandlers(t.store);
    const [a, b] = memoryPorts();
    // validateResults: every answer is also checked against the contract's result schema.
    const conn = serveApi(a, core.handlers, { validateResults: true });
    api = connectApi(b);
    stop = () => (api.close(), conn.close(), core.close());
  });
  afterAll(() => {
    stop?.();
    t.cleanup();
  });

  it('registers a problem once by content and explores it with overrides as the whole problem would be', async () => {
    const { problemId, layers } = await api['plan.register']({ problem });
    expect(problemId).toMatch(/^[0-9a-f]{64}$/);
    expect(layers).toBe(12);
    expect((await api['plan.register']({ problem: structuredClone(problem) })).problemId).toBe(problemId);
    for (const maxDegradation of [0.01, 0.002, 0.03]) {
      for (const objective of [problem.objective, { latency: 0, energy: 1, cost: 0 }]) {
        const constraints = { ...problem.constraints, maxDegradation };
        const byId = await api['plan.explore']({ problemId, objective, constraints, points: 10 });
        const whole = await api['plan.explore']({ problem: { ...problem, objective, constraints }, points: 10 });
        expect(planKey(byId)).toBe(planKey(whole));
      }
    }
    // Without overrides, the registered problem's own objective and constraints.
    expect(planKey(await api['plan.explore']({ problemId, points: 10 }))).toBe(planKey(await api['plan.explore']({ problem, points: 10 })));
  });

  it('refuses an unknown id, both or neither forms, a bad id and an invalid problem', async () => {
    await expect(api['plan.explore']({ problemId: 'a'.repeat(64) })).rejects.toMatchObject({ code: 'plan-problem-unknown', message: expect.stringContaining('Register it again with plan.register') });
    const { problemId } = await api['plan.register']({ problem });
    await expect(api.call('plan.explore', { problemId, problem })).rejects.toMatchObject({ code: 'rpc-invalid-argument' });
    await expect(api.call('plan.explore', {})).rejects.toMatchObject({ code: 'rpc-invalid-argument' });
    await expect(api.call('plan.explore', { problemId: '../x' })).rejects.toMatchObject({ code: 'rpc-invalid-argument' });
    await expect(api.call('plan.explore', { problemId, constraints: { maxDegradation: 2 } })).rejects.toMatchObject({ code: 'rpc-invalid-argument' });
    const dup = structuredClone(problem);
    dup.layers[0].options.push({ ...dup.layers[0].options[0] });
    await expect(api['plan.register']({ problem: dup })).rejects.toMatchObject({ code: 'plan-problem-invalid' });
  });

  it('the notebook registers an inline problem once, sends only overrides per edit, and registers again when the core forgot it', async () => {
    const calls: string[] = [];
    let forget = false;
    const wrapped: PlanningApi = {
      'plan.build': (a) => api['plan.build'](a),
      'plan.register': (a) => (calls.push('register'), api['plan.register'](a)),
      'plan.explore': (a) => {
        calls.push(a?.problem ? 'explore:problem' : 'explore:id');
        if (forget) {
          forget = false;
          return api['plan.explore']({ ...a, problemId: 'b'.repeat(64) });
        }
        return api['plan.explore'](a);
      },
    };
    const cache = new PlanningCache(wrapped);
    const settings = (b: number) => ({ objective: problem.objective, constraints: { maxDegradation: b }, points: 10, problem: structuredClone(problem) });
    const a = await evaluatePareto(wrapped, cache, settings(0.01));
    const b = await evaluatePareto(wrapped, cache, settings(0.002));
    expect(calls).toEqual(['register', 'explore:id', 'explore:id']);
    expect(a.layerNames).toEqual(problem.layers.map((l) => l.name));
    expect(b.settings.constraints.maxDegradation).toBe(0.002);
    forget = true;
    const c = await evaluatePareto(wrapped, cache, settings(0.002));
    expect(calls.slice(3)).toEqual(['explore:id', 'register', 'explore:id']);
    expect(c.selected).toEqual(b.selected);
  });

  it('progressive: a problem not swept yet is answered with a coarse front first (same plan and baselines), then the full one; a swept one at once', async () => {
    const sweeps: string[] = [];
    const wrapped: PlanningApi = {
      'plan.build': (a) => api['plan.build'](a),
      'plan.register': (a) => api['plan.register'](a),
      'plan.explore': (a) => (sweeps.push(`${a?.sweep ?? 'full'}:${a?.points}`), api['plan.explore'](a)),
    };
    const cache = new PlanningCache(wrapped);
    const edited = { ...problem, link: { ...problem.link, uplinkBps: problem.link.uplinkBps * 3 } };
    const settings = (b: number) => ({ objective: edited.objective, constraints: { maxDegradation: b }, points: 20, problem: structuredClone(edited) });
    const coarse = await evaluatePareto(wrapped, cache, settings(0.01), undefined, { progressive: true });
    expect(coarse.refining).toBe(true);
    const full = await evaluatePareto(wrapped, cache, settings(0.01));
    expect(full.refining).toBe(false);
    expect(sweeps).toEqual(['coarse:6', 'full:20']);
    expect(coarse.selected).toEqual(full.selected);
    expect(coarse.baselines).toEqual(full.baselines);
    expect(full.front.plans.length).toBeGreaterThan(coarse.front.plans.length);
    expect(coarse.front.stats.solves).toBeLessThan(full.front.stats.solves);
    // The full sweep is known now: a budget edit is answered in full at once.
    const next = await evaluatePareto(wrapped, cache, settings(0.004), undefined, { progressive: true });
    expect(next.refining).toBe(false);
    expect(sweeps.at(-1)).toBe('full:20');
  });
});
