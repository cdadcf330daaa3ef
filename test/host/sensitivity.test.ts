import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addFashionMnist } from '../../core/host/datasets.js';
import { importModel } from '../../core/host/models.js';
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
});
