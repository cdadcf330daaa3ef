import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CONTRACT, EVENTS, METHOD_NAMES, isJobMethod, type ApiJobResult, type ApiResult, type Dataset, type DeviceProfileView, type LinkProfileView, type ModelSummary, type ParetoFrontView, type BaselinePlanView, type QuantConfigView, type SolveResult } from '../../core/api/contract.js';
import type { ImportResult } from '../../core/host/models.js';
import type { ProfileResult } from '../../core/host/profiling.js';
import type { EstimatorResult } from '../../core/host/sensitivity.js';
import type { ParetoFront } from '../../core/plan/pareto.js';
import type { BaselinePlan } from '../../core/plan/baselines.js';
import type { QuantConfig } from '../../core/quant/quantConfig.js';
import type { DeviceProfile, LinkProfile } from '../../core/plan/devices.js';
import type { SolveResult as PlannerSolveResult } from '../../core/plan/solver.js';
import type { DatasetRow, LayerRow, ModelRow } from '../../core/store/sqliteStore.js';
import { CoreError } from '../../core/api/errors.js';
import { memoryPorts } from '../../core/rpc/port.js';
import { checkMessage, classifyMessage, jsonProblem, toWireError, utf8Length } from '../../core/rpc/wire.js';

describe('the contract', () => {
  it('names every method of the workbench, and marks the long ones as jobs', () => {
    expect(METHOD_NAMES).toEqual([
      'models.list', 'models.import', 'uploads.begin', 'uploads.chunk', 'uploads.cancel', 'models.importUpload', 'models.get', 'models.layers', 'profile.run', 'datasets.list', 'datasets.addFashionMnist', 'eval.run',
      'quant.quantize', 'sensitivity.run', 'sensitivity.get', 'devices.list', 'links.list', 'plan.solve', 'plan.build', 'plan.pareto', 'plan.baselines', 'plan.register', 'plan.explore', 'store.query', 'jobs.cancel',
      'notebooks.list', 'notebooks.get', 'notebooks.save', 'notebooks.duplicate', 'notebooks.delete',
      'agents.list', 'agents.tokens', 'agents.pair', 'agents.revoke', 'agents.bench', 'plans.save', 'plans.list', 'plans.export', 'runs.start', 'runs.list',
    ]);
    expect(METHOD_NAMES.filter(isJobMethod)).toEqual(['profile.run', 'eval.run', 'quant.quantize', 'sensitivity.run', 'agents.bench', 'plans.export', 'runs.start']);
    expect(Object.keys(EVENTS)).toEqual(['job.progress', 'job.done']);
  });

  it('accepts the three forms of quantization bits and refuses unsupported widths', () => {
    const base = { model: 'm', format: 'qdq', out: '/tmp/m.onnx' };
    for (const bits of [4, { default: 8, conv1: 4 }, 'conv1=4,default=8']) expect(CONTRACT['quant.quantize'].arg.safeParse({ ...base, bits }).success).toBe(true);
    expect(CONTRACT['quant.quantize'].arg.safeParse({ ...base, bits: 7 }).success).toBe(false);
    expect(CONTRACT['quant.quantize'].arg.safeParse({ ...base, bits: 8, actBits: 16 }).success).toBe(false);
  });

  it('fills the planning constraints’ defaults for plan.build', () => {
    const r = CONTRACT['plan.build'].arg.parse({ model: 'm', device: 'raspberry-pi-4b', link: 'wifi', objective: { latency: 1, energy: 0, cost: 0 }, constraints: { maxDegradation: 0.01 } });
    expect(r.constraints).toEqual({ maxDegradation: 0.01, enforceMemory: true, headCached: false });
  });

  it('describes job.done as a result or an error', () => {
    expect(EVENTS['job.done'].safeParse({ jobId: 'job-1', method: 'eval.run', result: { top1: 0.9 } }).success).toBe(true);
    expect(EVENTS['job.done'].safeParse({ jobId: 'job-1', method: 'eval.run', error: { code: 'cancelled', message: 'Cancelled.' } }).success).toBe(true);
    expect(EVENTS['job.done'].safeParse({ jobId: 'job-1', method: 'eval.run' }).success).toBe(false);
  });
});

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assignable<From, To> = [From] extends [To] ? true : false;
/** Compile-time check: tsc fails on this file when a service's type drifts from the contract. */
const holds = <T extends true>(): T => true as T;

describe('the contract mirrors the services behind it', () => {
  it('has the result shapes that the core services produce', () => {
    holds<Same<SolveResult, PlannerSolveResult>>();
    holds<Same<ParetoFrontView, ParetoFront>>();
    holds<Same<BaselinePlanView, BaselinePlan>>();
    holds<Same<ModelSummary, ModelRow>>();
    holds<Same<QuantConfigView, QuantConfig>>();
    holds<Same<Dataset, DatasetRow>>();
    holds<Same<DeviceProfileView, DeviceProfile>>();
    holds<Same<LinkProfileView, LinkProfile>>();
    holds<Same<ApiResult<'models.layers'>['layers'][number], LayerRow>>();
    holds<Assignable<ImportResult, ApiResult<'models.import'>>>();
    holds<Assignable<ProfileResult, ApiJobResult<'profile.run'>>>();
    holds<Assignable<EstimatorResult, ApiJobResult<'sensitivity.run'>>>();
    expect(z.toJSONSchema(CONTRACT['plan.solve'].result, { io: 'output', unrepresentable: 'any' })).toMatchObject({ oneOf: expect.any(Array) });
  });
});

describe('wire checks', () => {
  it('finds what JSON cannot carry, with its path', () => {
    expect(jsonProblem({ a: [1, 'x', null, true, { b: undefined }] }, 'arg')).toBeNull();
    expect(jsonProblem({ a: [1, undefined] }, 'arg')).toBe('arg.a[1] is undefined');
    expect(jsonProblem({ 'odd key': Infinity }, 'arg')).toBe('arg["odd key"] is Infinity');
    expect(jsonProblem({ d: new Date(0) }, 'arg')).toBe('arg.d is a Date');
    expect(jsonProblem({ n: 1n }, 'arg')).toBe('arg.n is the bigint 1');
    expect(jsonProblem({ f: () => 1 }, 'arg')).toBe('arg.f is a function');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = { back: cyclic };
    expect(jsonProblem(cyclic, 'arg')).toBe('arg.self.back refers back to one of its parents (a cycle)');
    const shared = { x: 1 };
    expect(jsonProblem({ a: shared, b: shared }, 'arg')).toBeNull();
  });

  it('measures UTF-8 bytes and refuses a message over the limit', () => {
    expect(utf8Length('aé€😀')).toBe(1 + 2 + 3 + 4);
    expect(checkMessage({ s: 'é'.repeat(10) }, {}, 'X', 'arg', 100)).toBeNull();
    expect(checkMessage({ s: 'é'.repeat(60) }, {}, 'X', 'arg', 100)?.code).toBe('rpc-message-too-large');
  });

  it('sorts messages into requests, responses and events', () => {
    expect(classifyMessage({ id: 1, method: 'models.list', arg: {} }).kind).toBe('request');
    expect(classifyMessage({ id: 1, result: {} }).kind).toBe('result');
    expect(classifyMessage({ id: null, error: { code: 'x', message: 'y' } }).kind).toBe('error');
    expect(classifyMessage({ event: 'job.done', payload: {} }).kind).toBe('event');
    expect(classifyMessage({ id: -1, method: 'models.list' })).toMatchObject({ kind: 'invalid', id: null });
    expect(classifyMessage([1])).toMatchObject({ kind: 'invalid', why: 'the message is an array of 1, not an object' });
  });

  it('keeps a CoreError’s code and details, and drops details that are not JSON', () => {
    const logged: unknown[] = [];
    expect(toWireError(new CoreError('plan-infeasible', 'No plan.', { need: 2 }), 'plan.solve', (e) => logged.push(e))).toEqual({ code: 'plan-infeasible', message: 'No plan.', details: { need: 2 } });
    expect(toWireError(new CoreError('x', 'Y.', new Map()), 'plan.solve', (e) => logged.push(e))).toEqual({ code: 'x', message: 'Y.' });
    expect(toWireError('a thrown string', undefined, (e) => logged.push(e))).toEqual({ code: 'internal-error', message: "Internal error: a thrown string. This is a bug; the core's log has the details." });
    expect(logged).toHaveLength(2);
  });
});

describe('memoryPorts', () => {
  it('delivers copies, later and in order, and closes both ends', async () => {
    const [a, b] = memoryPorts();
    const got: unknown[] = [];
    b.onMessage((m) => got.push(m));
    const msg = { n: 1, inner: { x: [1] } };
    a.send(msg);
    a.send({ n: 2 });
    msg.inner.x.push(2);
    expect(got).toEqual([]);
    await new Promise((r) => setTimeout(r, 5));
    expect(got).toEqual([{ n: 1, inner: { x: [1] } }, { n: 2 }]);
    let closed = 0;
    a.onClose!(() => closed++);
    b.onClose!(() => closed++);
    b.close!();
    a.send({ n: 3 });
    await new Promise((r) => setTimeout(r, 5));
    expect(closed).toBe(2);
    expect(got).toHaveLength(2);
  });
});
