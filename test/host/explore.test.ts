/**
 * plan.register / plan.explore through the contract (arguments checked on the core side, as from the page): a
 * problem registered once and explored by id with objective and constraint overrides answers as the whole-problem
 * form does; unknown ids and malformed arguments are refused; the notebook's planning cache registers again when the
 * core has forgotten a problem.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiResult } from '../../core/api/contract.js';
import type { PlanningProblem } from '../../core/api/planning.js';
import { evaluatePareto, PlanningCache, type PlanningApi } from '../../core/notebook/planning.js';
import { randomProblem } from '../../core/plan/randomProblem.js';
import { benchProblem } from '../../core/plan/solverBench.js';
import type { ApiClient } from '../../core/rpc/client.js';
import { inMemoryCore, tempStore } from '../helpers.js';

const problem: PlanningProblem = randomProblem(11, { layers: 12, options: 5, actOptions: 3, withSlo: true, withMemory: true, headCached: false, objective: { latency: 1, energy: 2, cost: 10 }, maxDegradation: 0.01 });
const planKey = (r: ApiResult<'plan.explore'>) =>
  JSON.stringify([r.front.plans.map((p) => [p.cut, p.bits, p.activationBits]), r.front.knee, r.solve.status === 'optimal' ? r.solve.plan : r.solve.report, r.baselines]);

describe('plan.register and plan.explore by id', () => {
  const t = tempStore();
  let api: ApiClient;
  let stop: () => void;
  beforeAll(() => {
    ({ api, stop } = inMemoryCore(t.store, { validateResults: true }));
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

  it('registers by patch: the same id and answers as the patched problem sent whole; bad patches and unknown bases refused', async () => {
    const { problemId: baseId } = await api['plan.register']({ problem });
    const patch = { device: { ...problem.device, powerTxW: problem.device.powerTxW * 2 }, link: { ...problem.link, uplinkBps: problem.link.uplinkBps / 3 }, constraints: { maxDegradation: 0.02 } };
    const whole = { ...problem, ...patch };
    const byPatch = await api['plan.register']({ baseId, patch });
    const byWhole = await api['plan.register']({ problem: structuredClone(whole) });
    expect(byPatch).toEqual(byWhole);
    expect(byPatch.problemId).not.toBe(baseId);
    expect(planKey(await api['plan.explore']({ problemId: byPatch.problemId, points: 10 }))).toBe(planKey(await api['plan.explore']({ problem: whole, points: 10 })));
    // The base is unchanged.
    expect((await api['plan.register']({ baseId, patch: {} })).problemId).toBe(baseId);
    await expect(api['plan.register']({ baseId: 'c'.repeat(64), patch })).rejects.toMatchObject({ code: 'plan-problem-unknown' });
    await expect(api.call('plan.register', { baseId, patch: { layers: problem.layers } })).rejects.toMatchObject({ code: 'rpc-invalid-argument' });
    await expect(api.call('plan.register', { baseId, patch: { link: { ...problem.link, uplinkBps: 0 } } })).rejects.toMatchObject({ code: 'rpc-invalid-argument' });
    await expect(api.call('plan.register', { baseId })).rejects.toMatchObject({ code: 'rpc-invalid-argument' });
    await expect(api.call('plan.register', { problem, baseId, patch })).rejects.toMatchObject({ code: 'rpc-invalid-argument' });
  });

  it('the notebook registers a device or link edit as a patch of the last problem, a layer edit whole, and whole again when the base is forgotten', async () => {
    const sent: string[] = [];
    let forgetBase = false;
    const wrapped: PlanningApi = {
      'plan.build': (a) => api['plan.build'](a),
      'plan.register': (a) => {
        sent.push(a?.problem ? 'whole' : `patch:${Object.keys(a?.patch ?? {}).join(',')}`);
        return api['plan.register'](forgetBase && a?.baseId ? { ...a, baseId: 'd'.repeat(64) } : a);
      },
      'plan.explore': (a) => api['plan.explore'](a),
    };
    const cache = new PlanningCache(wrapped);
    const settings = (p: PlanningProblem) => ({ objective: p.objective, constraints: { maxDegradation: 0.01 }, points: 10, problem: structuredClone(p) });
    await evaluatePareto(wrapped, cache, settings(problem));
    const linked = { ...problem, link: { ...problem.link, uplinkBps: problem.link.uplinkBps * 2 } };
    const r = await evaluatePareto(wrapped, cache, settings(linked));
    const direct = await api['plan.explore']({ problem: linked, constraints: { maxDegradation: 0.01 }, points: 10 });
    expect(r.selected).toEqual(direct.solve.status === 'optimal' ? direct.solve.plan : null);
    const layered = structuredClone(linked);
    layered.layers[0].name = 'renamed';
    await evaluatePareto(wrapped, cache, settings(layered));
    forgetBase = true;
    await evaluatePareto(wrapped, cache, settings({ ...layered, device: { ...layered.device, powerTxW: layered.device.powerTxW + 1 } }));
    expect(sent).toEqual(['whole', 'patch:link', 'whole', 'patch:device', 'whole']);
  });

  it('a full sweep does not hold up other requests, and a newer request in its lane abandons it (plan-superseded)', async () => {
    const bench = benchProblem();
    const { problemId: baseId } = await api['plan.register']({ problem: bench });
    const { problemId: edited } = await api['plan.register']({ baseId, patch: { link: { ...bench.link, uplinkBps: bench.link.uplinkBps * 1.7 } } });
    const t0 = performance.now();
    const sweep = api['plan.explore']({ problemId: baseId, points: 50, lane: 'cell:x' });
    const settled = sweep.then(
      () => performance.now() - t0,
      (e: unknown) => e,
    );
    // Another lane's coarse request is answered while the sweep runs, and the sweep goes on.
    const other = await api['plan.explore']({ problemId: edited, points: 6, sweep: 'coarse', baselines: 'fixed', lane: 'cell:y' });
    const otherMs = performance.now() - t0;
    expect(other.baselinesPending).toEqual(['bits-only']);
    expect(other.baselines.some((b) => b.baseline === 'bits-only')).toBe(false);
    const sweptMs = await settled;
    expect(typeof sweptMs).toBe('number');
    expect(otherMs).toBeLessThan(sweptMs as number);
    // A newer request in the same lane abandons a sweep still running.
    const edited2 = (await api['plan.register']({ baseId, patch: { device: { ...bench.device, powerTxW: bench.device.powerTxW * 1.3 } } })).problemId;
    const abandoned = api['plan.explore']({ problemId: edited2, points: 50, lane: 'cell:x' });
    const newer = await api['plan.explore']({ problemId: edited2, points: 6, sweep: 'coarse', lane: 'cell:x' });
    await expect(abandoned).rejects.toMatchObject({ code: 'plan-superseded' });
    expect(newer.solve.status).toBeDefined();
    // Registering the lane's next problem abandons its running sweep at once.
    const edited3 = { device: { ...bench.device, powerTxW: bench.device.powerTxW * 1.6 } };
    const dropped = api['plan.explore']({ problemId: edited2, points: 40, lane: 'cell:x' });
    await api['plan.register']({ baseId, patch: edited3, lane: 'cell:x' });
    await expect(dropped).rejects.toMatchObject({ code: 'plan-superseded' });
    // The full sweep asked again completes, with the same front as the whole-problem form.
    const full = await api['plan.explore']({ problemId: edited2, points: 50, lane: 'cell:x' });
    const whole = await api['plan.explore']({ problem: { ...bench, device: { ...bench.device, powerTxW: bench.device.powerTxW * 1.3 } }, points: 50 });
    expect(planKey(full)).toBe(planKey(whole));
  }, 60_000);

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

  it('progressive: a problem not swept yet is answered with a coarse front first (same plan, the fixed baselines), then the full one; a swept one at once', async () => {
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
    // The coarse answer has the baselines that need no search, and names bits-only as pending.
    expect(coarse.baselinesPending).toEqual(['bits-only']);
    expect(full.baselinesPending).toEqual([]);
    expect(coarse.baselines).toEqual(full.baselines.filter((b) => b.baseline !== 'bits-only'));
    expect(full.baselines.some((b) => b.baseline === 'bits-only')).toBe(true);
    expect(full.front.plans.length).toBeGreaterThan(coarse.front.plans.length);
    expect(coarse.front.stats.solves).toBeLessThan(full.front.stats.solves);
    // The full sweep is known now: a budget edit gets the full front and the exact plan at once, and only the
    // bits-only baseline (a search of its own) follows.
    const next = await evaluatePareto(wrapped, cache, settings(0.004), undefined, { progressive: true });
    expect(next.coarse).toBe(false);
    expect(next.refining).toBe(true);
    expect(next.baselinesPending).toEqual(['bits-only']);
    expect(sweeps.at(-1)).toBe('full:20');
    expect(next.front.plans.length).toBe(full.front.plans.length);
    const nextFull = await evaluatePareto(wrapped, cache, settings(0.004));
    expect(nextFull.selected).toEqual(next.selected);
    expect(nextFull.baselines.some((b) => b.baseline === 'bits-only')).toBe(true);
    // A budget whose baselines the core has computed is answered whole.
    const again = await evaluatePareto(wrapped, cache, settings(0.01), undefined, { progressive: true });
    expect(again).toMatchObject({ coarse: false, refining: false, baselinesPending: [] });
    expect(again.baselines).toEqual(full.baselines);
  });
});
