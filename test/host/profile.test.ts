import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importModel } from '../../core/host/models.js';
import { profileModel } from '../../core/host/profiling.js';
import type { SqliteStore } from '../../core/store/sqliteStore.js';
import { PPOCR, ZOO, tempStore } from '../helpers.js';

let store: SqliteStore;
let cleanup: () => void;
beforeAll(() => ({ store, cleanup } = tempStore()));
afterAll(() => cleanup());

describe('profiles', () => {
  it('fmnist-mlp: Gemm MACs, params and activation bytes match the architecture (784-1024-1024-10)', async () => {
    const { model } = await importModel(store, ZOO[2].file);
    const p = await profileModel(store, model.id, { batch: 4 });
    const gemms = p.static.layers.filter((l) => l.opType === 'Gemm');
    expect(gemms.map((l) => l.macs)).toEqual([4 * 784 * 1024, 4 * 1024 * 1024, 4 * 1024 * 10]);
    expect(gemms.map((l) => l.params)).toEqual([784 * 1024 + 1024, 1024 * 1024 + 1024, 1024 * 10 + 10]);
    expect(gemms.map((l) => l.outBytes)).toEqual([4 * 1024 * 4, 4 * 1024 * 4, 4 * 10 * 4]);
    expect(p.static.summary).toMatchObject({ params: model.paramCount, weightBytes: model.weightBytes, opsWithoutFormula: [] });
    const logits = p.static.tensors.find((t) => t.name === 'logits')!;
    expect(logits).toMatchObject({ dims: [4, 10], dataType: 'float32', bytes: 160 });
  });

  it('profiles are cached by content hash + settings, and a new setting makes a new profile', async () => {
    const { model } = await importModel(store, ZOO[0].file);
    const a = await profileModel(store, model.id, { latency: true, runs: 3, warmup: 1 });
    const b = await profileModel(store, model.id, { latency: true, runs: 3, warmup: 1 });
    expect(b.cached).toEqual({ static: true, latency: true });
    expect(b.latency!.id).toBe(a.latency!.id);
    const c = await profileModel(store, model.id, { latency: true, runs: 4, warmup: 1 });
    expect(c.cached).toEqual({ static: true, latency: false });
    expect(store.listProfiles(model.id).length).toBe(3);
    expect(c.latency!.settings).toMatchObject({ runs: 4, threads: 1, optimization: 'disabled' });
  });

  it('measured latency: every node of a real model gets a positive median, and their sum is near the whole run', async () => {
    const { model } = await importModel(store, PPOCR[2].file);
    const p = await profileModel(store, model.id, { inputShape: { '*': [...PPOCR[2].inputShape] }, latency: true, runs: 5, warmup: 2 });
    const lat = p.latency!;
    expect(lat.layers.length).toBe(model.layerCount);
    expect(lat.layers.filter((l) => !(l.latencyMs! > 0)).map((l) => l.name)).toEqual([]);
    const s = lat.summary as { ratio: number };
    // A correctness bound, not a timing goal: per-node events must account for most of a run and not exceed it wildly.
    expect(s.ratio).toBeGreaterThan(0.5);
    expect(s.ratio).toBeLessThan(2);
  });

  it('PP-OCR det: a cut crosses several tensors, and shapes follow the given input size', async () => {
    const { model } = await importModel(store, PPOCR[0].file);
    const p = await profileModel(store, model.id, { inputShape: { '*': [...PPOCR[0].inputShape] } });
    const input = p.static.tensors.find((t) => t.name === 'x')!;
    expect(input.dims).toEqual([...PPOCR[0].inputShape]);
    expect(p.static.layers.every((l) => l.costModel !== 'none')).toBe(true);
    expect((p.static.summary as { macs: number }).macs).toBeGreaterThan(1e7);
    await expect(profileModel(store, model.id, { inputShape: { '*': [1, 3, 96] } })).rejects.toMatchObject({ code: 'input-shape-mismatch' });
  });
});
