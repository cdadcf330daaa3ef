import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addFashionMnist } from '../../core/host/datasets.js';
import { evaluateModel } from '../../core/host/evaluation.js';
import { importModel } from '../../core/host/models.js';
import { zooManifest } from '../../core/host/seed.js';
import { FASHION_MNIST_DIR, loadIdxDataset, parseIdx } from '../../core/accuracy/idxDataset.js';
import type { SqliteStore } from '../../core/store/sqliteStore.js';
import { sha256Hex } from '../../core/util/hash.js';
import { runLogits } from '../../core/run/logitsRunner.js';
import { ZOO_DIR, tempStore } from '../helpers.js';

const manifest = zooManifest();
let store: SqliteStore;
let cleanup: () => void;
beforeAll(() => ({ store, cleanup } = tempStore()));
afterAll(() => cleanup());

describe('reference models', () => {
  it('manifest lists the three zoo models with the sha256 of the committed files', () => {
    expect(manifest.models.map((m) => m.name)).toEqual(['fmnist-cnn', 'fmnist-resnet', 'fmnist-mlp']);
    for (const m of manifest.models) expect(sha256Hex(readFileSync(join(ZOO_DIR, m.file)))).toBe(m.sha256);
  });

  it('Fashion-MNIST loads from the Debian package: 10k test images of 28x28 with 10 labels', () => {
    expect(existsSync(FASHION_MNIST_DIR), 'apt-get install dataset-fashion-mnist').toBe(true);
    const d = loadIdxDataset(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));
    expect(d.count).toBe(10_000);
    expect(d.sampleShape).toEqual([28, 28]);
    expect(Math.max(...d.labels!)).toBe(9);
  });

  it('rejects a file that is not IDX', () => {
    expect(() => parseIdx(new TextEncoder().encode('{"not": "idx"}'), 'x.json')).toThrow(expect.objectContaining({ code: 'dataset-not-idx' }));
  });

  it('onnxruntime-node reproduces the logits torch recorded for the first 8 test images', async () => {
    const ref = JSON.parse(readFileSync(join(ZOO_DIR, 'reference-logits.json'), 'utf8')) as { models: Record<string, number[][]> };
    const test = loadIdxDataset(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), null);
    for (const m of manifest.models) {
      const { logits } = await runLogits(readFileSync(join(ZOO_DIR, m.file)), m.name, test, { offset: 0, count: 8, sampleDims: [1, 28, 28] });
      const want = ref.models[m.name].flat();
      for (let i = 0; i < want.length; i++) expect(Math.abs(logits[i] - want[i]), `${m.name}[${i}]`).toBeLessThan(1e-4);
    }
  });

  for (const m of manifest.models) {
    it(`${m.name}: FP32 top-1 in onnxruntime-node on the 10k test set equals the manifest (${m.top1})`, async () => {
      if (!store.findDataset('fashion-mnist-test')) addFashionMnist(store);
      await importModel(store, join(ZOO_DIR, m.file), { name: m.name });
      const r = await evaluateModel(store, m.name, 'fashion-mnist-test', { threads: 1 });
      expect(r.count).toBe(10_000);
      expect(r.top1).toBe(m.top1);
      expect(store.measurements(store.requireModel(m.name).id, 'top1').length).toBe(1);
    });
  }
});
