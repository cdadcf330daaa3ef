/**
 * plans.export through the contract, as the workbench's "Export this plan" calls it: the folder always lands in the
 * exports folder beside the database, under a plain name; a stored plan can be exported by id; failures leave
 * nothing behind.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlanFileSchema } from '../../core/api/planFile.js';
import { addFashionMnist } from '../../core/host/datasets.js';
import { importModel } from '../../core/host/models.js';
import { estimateDegradation } from '../../core/host/sensitivity.js';
import type { ApiClient } from '../../core/rpc/client.js';
import { sha256Hex } from '../../core/util/hash.js';
import { inMemoryCore, tempStore, ZOO } from '../helpers.js';

const request = { device: 'raspberry-pi-4b', link: 'lte', estimator: 'none' as const, objective: { latency: 1, energy: 0, cost: 0 }, constraints: { maxDegradation: 0.01 } };
const plan = { cut: 3, bits: [32, 32, 32] as const, activationBits: 32 as const };

describe('plans.export', () => {
  const t = tempStore();
  const exportsDir = join(dirname(t.path), 'exports');
  let api: ApiClient;
  let stop: () => void;
  beforeAll(async () => {
    await importModel(t.store, ZOO[0].file);
    await importModel(t.store, ZOO[2].file);
    addFashionMnist(t.store);
    // An estimator, so the planner offers 8-bit link codes (which need activation ranges to export).
    await estimateDegradation(t.store, 'fmnist-cnn', { dataset: 'fashion-mnist-train', samples: 200, bits: [8] });
    ({ api, stop } = inMemoryCore(t.store, { validateResults: true }));
  });
  afterAll(() => {
    stop?.();
    t.cleanup();
  });

  it('writes the six files into exports/<model>-<time> beside the database, with progress, and says what it wrote', async () => {
    const stages = new Set<string>();
    const r = await api.runJob('plans.export', { model: 'fmnist-cnn', request, plan: { ...plan, bits: [...plan.bits] } }, { onProgress: (p) => stages.add(p.stage) });
    expect(dirname(r.outDir)).toBe(exportsDir);
    expect(r.name).toMatch(/^fmnist-cnn-\d{8}T\d{6}Z$/);
    expect(r.files.map((f) => f.name)).toEqual(['head.onnx', 'tail.onnx', 'quantization.ort.json', 'encodings.aimet.json', 'report.html', 'plan.json']);
    for (const f of r.files) {
      const bytes = readFileSync(join(r.outDir, f.name));
      expect([bytes.byteLength, sha256Hex(bytes)]).toEqual([f.bytes, f.sha256]);
    }
    const pf = PlanFileSchema.parse(JSON.parse(readFileSync(join(r.outDir, 'plan.json'), 'utf8')));
    expect(pf).toEqual(r.planFile);
    expect(pf).toMatchObject({ cut: 3, activationBits: 32, request: { device: 'raspberry-pi-4b', link: 'lte', server: 'a100', constraints: { maxDegradation: 0.01 } }, createdBy: 'partita workbench (plans.export)' });
    // The predictions come from the problem rebuilt for the request.
    expect(pf.predicted?.latencyMs).toBeGreaterThan(0);
    expect(stages.has('files')).toBe(true);
    expect(readdirSync(exportsDir)).toEqual([r.name]);
  });

  it('uses a given plain name once, refuses paths and names taken, and exports a stored plan by id', async () => {
    const r = await api.runJob('plans.export', { model: 'fmnist-cnn', request, plan: { ...plan, bits: [...plan.bits] }, name: 'cut3' });
    expect(r.outDir).toBe(join(exportsDir, 'cut3'));
    await expect(api.runJob('plans.export', { model: 'fmnist-cnn', request, plan: { ...plan, bits: [...plan.bits] }, name: 'cut3' })).rejects.toMatchObject({ code: 'export-exists' });
    for (const name of ['../escape', '/tmp/x', '.hidden', 'a/b', '', 'x'.repeat(101)]) {
      await expect(api.call('plans.export', { model: 'fmnist-cnn', request, plan, name })).rejects.toMatchObject({ code: 'rpc-invalid-argument' });
    }
    const { id } = await api['plans.save']({ model: 'fmnist-cnn', request, plan: { ...plan, bits: [...plan.bits] } });
    const byId = await api.runJob('plans.export', { model: 'fmnist-cnn', planId: id, name: 'stored' });
    expect(byId.planFile.cut).toBe(3);
    expect(readFileSync(join(byId.outDir, 'head.onnx'))).toEqual(readFileSync(join(r.outDir, 'head.onnx')));
    await expect(api.runJob('plans.export', { model: 'fmnist-mlp', planId: id })).rejects.toMatchObject({ code: 'plan-model-mismatch' });
    await expect(api.runJob('plans.export', { model: 'fmnist-cnn', planId: 999 })).rejects.toMatchObject({ code: 'plan-unknown' });
    await expect(api.call('plans.export', { model: 'fmnist-cnn', planId: id, plan })).rejects.toMatchObject({ code: 'rpc-invalid-argument' });
    await expect(api.call('plans.export', { model: 'fmnist-cnn', plan })).rejects.toMatchObject({ code: 'rpc-invalid-argument' });
  });

  it('a plan that needs activation ranges fails in place without calibration data and leaves nothing; with it, the link sends codes', async () => {
    const before = readdirSync(exportsDir).sort();
    const coded = { model: 'fmnist-cnn', request: { ...request, estimator: 'sensitivity' as const }, plan: { cut: 3, bits: [32, 32, 32] as 32[], activationBits: 8 as const } };
    await expect(api.runJob('plans.export', { ...coded, name: 'coded' })).rejects.toMatchObject({ code: 'quant-not-calibrated' });
    await expect(api.runJob('plans.export', { model: 'fmnist-cnn', request: { ...request, device: 'toaster' }, plan: { ...plan, bits: [...plan.bits] } })).rejects.toMatchObject({ code: 'device-unknown' });
    await expect(api.runJob('plans.export', { model: 'fmnist-cnn', request, plan: { cut: 2, bits: [32], activationBits: 32 } })).rejects.toMatchObject({ code: 'plan-invalid' });
    expect(readdirSync(exportsDir).sort()).toEqual(before);
    expect(existsSync(join(exportsDir, 'coded'))).toBe(false);
    const r = await api.runJob('plans.export', { ...coded, name: 'coded', calib: 'fashion-mnist-train' });
    expect(r.planFile.link.every((l) => l.encoding === 'codes' && l.bits === 8)).toBe(true);
    expect(r.planFile.predicted?.degradation).toBeGreaterThanOrEqual(0);
  }, 120_000);
});
