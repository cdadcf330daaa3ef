import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentHub, type AgentHub } from '../../core/host/agentHub.js';
import { addFashionMnist } from '../../core/host/datasets.js';
import { exportPlan } from '../../core/host/exportPlan.js';
import { importModel } from '../../core/host/models.js';
import { refitProfile } from '../../core/host/refit.js';
import { predictRun, runPlan } from '../../core/host/runPlan.js';
import { seedPresets } from '../../core/host/planning.js';
import { findPlanRun, listPlanRuns, planRunRequests, savePlan } from '../../core/store/planStore.js';
import { tempStore, ZOO } from '../helpers.js';

const FMNIST = '/usr/share/datasets/fashion-mnist';

describe('partita run: a stored plan run for real, stored beside its prediction', () => {
  const t = tempStore();
  const dir = mkdtempSync(join(tmpdir(), 'partita-runplan-'));
  let planId = 0;
  let hub: AgentHub;
  beforeAll(async () => {
    for (const z of ZOO.slice(0, 2)) await importModel(t.store, z.file);
    addFashionMnist(t.store, FMNIST);
    seedPresets(t.store);
    t.store.saveLink({ name: 'slow', kind: 'custom', source: 'test', uplinkBps: 4e6, downlinkBps: 8e6, rttMs: 10, loss: 0 });
    const m = t.store.requireModel('fmnist-cnn');
    planId = savePlan(t.store, { modelId: m.id, request: { device: 'raspberry-pi-4b', link: 'slow', server: 'a100' }, plan: { cut: 4, bits: [32, 32, 32, 32], activationBits: 32 } }).id;
    hub = await startAgentHub({ store: t.store, heartbeatMs: 2000 });
  }, 120_000);
  afterAll(async () => {
    await hub?.close();
    t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a stored plan on labelled data: per-request rows, top-1 from them, link stages as predicted', async () => {
    const r = await runPlan(t.store, { model: 'fmnist-cnn', plan: String(planId), requests: 40, eval: 'fashion-mnist-test' });
    expect(r.run.status).toBe('ok');
    expect(r.run.planId).toBe(planId);
    const rows = planRunRequests(t.store, r.run.id);
    expect(rows).toHaveLength(40);
    expect(rows.every((q) => q.label !== null && q.predicted !== null)).toBe(true);
    expect(r.top1).toBeCloseTo(rows.filter((q) => q.label === q.predicted).length / 40, 12);
    // The zoo CNN is ~90% accurate: 40 test images cannot all be wrong.
    expect(r.top1!).toBeGreaterThan(0.6);
    // The link is emulated from the same profile the prediction uses: its stages agree closely.
    expect(r.predicted).not.toBeNull();
    expect(Math.abs(r.relativeError!.uplinkMs)).toBeLessThan(0.25);
    expect(Math.abs(r.relativeError!.downlinkMs)).toBeLessThan(0.25);
    expect(r.measured.bytes.uplinkPerRequest).toBeGreaterThan(r.predicted!.uplinkBytes);
  }, 120_000);

  it('runs a plan.json written by export, and refuses a plan for another model or a corrupt file without writing', async () => {
    const e = await exportPlan(t.store, 'fmnist-cnn', { cut: 2, bits: [32, 32], activationBits: 32 }, { outDir: join(dir, 'exp'), request: { device: 'raspberry-pi-4b', link: 'wifi', server: 'a100', objective: { latency: 1, energy: 0, cost: 0 }, constraints: { maxDegradation: 0.01, enforceMemory: true, headCached: false } } });
    const file = join(e.outDir, 'plan.json');
    const r = await runPlan(t.store, { model: 'fmnist-cnn', plan: file, requests: 5 });
    expect(r.run.cut).toBe(2);
    expect(r.run.planId).toBeNull();
    expect(r.top1).toBeNull();

    const before = t.store.rowCounts();
    await expect(runPlan(t.store, { model: 'fmnist-resnet', plan: file, requests: 5 })).rejects.toMatchObject({ code: 'plan-model-mismatch' });
    await expect(runPlan(t.store, { model: 'fmnist-resnet', plan: String(planId), requests: 5 })).rejects.toMatchObject({ code: 'plan-model-mismatch' });
    await expect(runPlan(t.store, { model: 'fmnist-cnn', plan: '999', requests: 5 })).rejects.toMatchObject({ code: 'plan-unknown' });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), cut: 'middle' }));
    await expect(runPlan(t.store, { model: 'fmnist-cnn', plan: bad, requests: 5 })).rejects.toMatchObject({ code: 'plan-file-invalid', message: expect.stringContaining('cut') });
    writeFileSync(bad, '{ not json');
    await expect(runPlan(t.store, { model: 'fmnist-cnn', plan: bad, requests: 5 })).rejects.toMatchObject({ code: 'plan-file-invalid' });
    expect(t.store.rowCounts()).toEqual(before);
  }, 120_000);

  it('a run on an agent that is not attached is stored as failed with its reason, and a retry points at it', async () => {
    await expect(runPlan(t.store, { model: 'fmnist-cnn', plan: String(planId), requests: 5, agent: { hub, name: 'nobody' } })).rejects.toMatchObject({ code: 'agent-not-found' });
    const failed = listPlanRuns(t.store, { status: 'failed' }).pop()!;
    expect(failed).toMatchObject({ target: 'agent', agentName: 'nobody', errorCode: 'agent-not-found', measured: null });
    expect(planRunRequests(t.store, failed.id)).toHaveLength(0);
    const retry = await runPlan(t.store, { model: 'fmnist-cnn', plan: String(planId), requests: 5, retryOf: failed.id });
    expect(retry.run.retryOf).toBe(failed.id);
  }, 120_000);

  it('refits a device profile from stored runs: the fitted profile predicts those runs better', async () => {
    const m = t.store.requireModel('fmnist-cnn');
    // A preset for a Raspberry Pi is far from this host: its device stage prediction is off by a lot.
    for (const cut of [1, 3, 6, 8]) {
      const id = savePlan(t.store, { modelId: m.id, request: { device: 'raspberry-pi-4b', link: 'ethernet', server: 'a100' }, plan: { cut, bits: new Array(cut).fill(32), activationBits: 32 } }).id;
      await runPlan(t.store, { model: 'fmnist-cnn', plan: String(id), requests: 15 });
    }
    const before = t.store.rowCounts();
    const r = await refitProfile(t.store, 'raspberry-pi-4b', 'device', { as: 'pi-as-this-host' });
    expect(r.fit.samples).toBeGreaterThanOrEqual(4);
    // What the fit minimises — the sum of squared relative errors of the device stage over those runs — is no worse
    // with the refitted profile than with the preset (the preset is one of the candidates, scale 1, no overhead).
    // A median could go either way on four noisy runs; this cannot.
    const sse = async (device: string) => {
      let sum = 0;
      for (const id of r.runs) {
        const run = findPlanRun(t.store, id)!;
        const measured = (run.measured as { median: { deviceMs: number } }).median.deviceMs;
        const p = await predictRun(t.store, 'fmnist-cnn', run.plan, { device, link: run.link, server: run.server });
        sum += ((p.breakdownMs.device - measured) / measured) ** 2;
      }
      return sum;
    };
    const [presetSse, fittedSse] = [await sse('raspberry-pi-4b'), await sse('pi-as-this-host')];
    expect(fittedSse).toBeLessThanOrEqual(presetSse * (1 + 1e-9));
    expect(r.fit.fitted.median).toBeLessThan(1);
    expect(t.store.findDevice('pi-as-this-host')).toBeDefined();
    expect(t.store.rowCounts().devices).toBe(before.devices + 1);
    await expect(refitProfile(t.store, 'jetson-orin-nano', 'device')).rejects.toMatchObject({ code: 'refit-too-few-runs' });
  }, 180_000);
});
