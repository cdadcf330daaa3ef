import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addFashionMnist } from '../../core/host/datasets.js';
import { importModel } from '../../core/host/models.js';
import { buildPlanningProblem, seedPresets } from '../../core/host/planning.js';
import { estimateDegradation } from '../../core/host/sensitivity.js';
import type { SqliteStore } from '../../core/store/sqliteStore.js';
import { ZOO, tempStore } from '../helpers.js';

let store: SqliteStore;
let cleanup: () => void;
beforeAll(async () => {
  ({ store, cleanup } = tempStore());
  addFashionMnist(store);
  await importModel(store, ZOO[2].file);
});
afterAll(() => cleanup());

describe('sensitivity profiling', () => {
  it('reports progress, can be cancelled, and a cancelled run stores nothing', async () => {
    const before = store.rowCounts();
    const ac = new AbortController();
    const seen: number[] = [];
    await expect(
      estimateDegradation(store, 'fmnist-mlp', {
        dataset: 'fashion-mnist-train',
        samples: 200,
        onProgress: (_stage, done) => {
          seen.push(done);
          if (done === 2) ac.abort();
        },
        signal: ac.signal,
      }),
    ).rejects.toMatchObject({ code: 'cancelled' });
    expect(seen.slice(0, 2)).toEqual([1, 2]);
    expect(store.rowCounts()).toEqual(before);
  });

  it('measures on the calibration split (the last samples of the train file), not the test set', async () => {
    const r = await estimateDegradation(store, 'fmnist-mlp', { dataset: 'fashion-mnist-train', samples: 300, bits: [8, 2] });
    expect(r.settings).toMatchObject({ offset: 60000 - 300, samples: 300, dataset: 'fashion-mnist-train' });
    // 2-bit hurts every layer more than 8-bit.
    r.sensitivity.drop.forEach((row) => expect(row[1]).toBeGreaterThan(row[0]));
    expect(store.rowCounts().sensitivity_rows).toBe(3 * 2);
  });

  it('measures what the link costs at every cut, and the planner then offers those link widths', async () => {
    const r = await estimateDegradation(store, 'fmnist-mlp', { dataset: 'fashion-mnist-train', samples: 300, bits: [8], linkBits: [8, 2] });
    const link = r.sensitivity.link!;
    const L = store.requireModel('fmnist-mlp').layerCount;
    expect(link.bits).toEqual([8, 2]);
    expect(link.drop).toHaveLength(L);
    // Cut 0 sends the input: pixels k/255 in [0, 1] are exactly 8-bit codes, so the 8-bit link loses nothing.
    expect(link.kl[0][0]).toBeLessThan(1e-9);
    expect(link.drop[0][0]).toBe(0);
    // Two bits on the wire distort the outputs far more than eight, at every cut.
    link.kl.forEach((row) => expect(row[1]).toBeGreaterThan(row[0]));

    seedPresets(store);
    const p = await buildPlanningProblem(store, { model: 'fmnist-mlp', device: 'raspberry-pi-4b', link: 'lte', objective: { latency: 1, energy: 0, cost: 0 }, constraints: { maxDegradation: 0.01, enforceMemory: true, headCached: true } });
    const cut1 = p.cuts[1].options.map((o) => o.bits);
    expect(cut1).toEqual([32, 16, 8, 2]);
    expect(p.cuts[1].options.find((o) => o.bits === 2)!.degradation).toBe(Math.max(0, link.drop[1][1]));
  });
});
