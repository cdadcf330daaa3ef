import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCoreError } from '../../core/api/errors.js';
import { addFashionMnist } from '../../core/host/datasets.js';
import { runFlexiq } from '../../core/host/flexiq.js';
import { importModel } from '../../core/host/models.js';
import { encodeModel } from '../../core/onnx/modelCodec.js';
import type { SqliteStore } from '../../core/store/sqliteStore.js';
import { tempStore, ZOO_DIR } from '../helpers.js';

let store: SqliteStore;
let path: string;
let cleanup: () => void;

beforeAll(async () => {
  ({ store, path, cleanup } = tempStore());
  addFashionMnist(store);
  await importModel(store, join(ZOO_DIR, 'fmnist-mlp.onnx'), { name: 'fmnist-mlp' });
});
afterAll(() => cleanup());

async function expectCoreError(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    expect(isCoreError(e), String(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    expect((e as Error).message).toMatch(/^[A-Z].*\.$/s);
    return;
  }
  throw new Error(`expected CoreError ${code}`);
}

describe('runFlexiq', () => {
  it('runs every ratio on fmnist-mlp with references, latency and switching measured', async () => {
    const r = await runFlexiq(store, 'fmnist-mlp', { ratios: [100, 0, 50], calibSamples: 200, evalSamples: 500, latencyRuns: 50, warmup: 5, switches: 40 });
    expect(r.rows.map((x) => x.ratio)).toEqual([0, 50, 100]);
    expect(r.references.map((x) => x.label)).toEqual(['FP32', '8-bit only (MatMulNBits, block)', '4-bit only (MatMulNBits, block)']);
    expect(r.calibration).toEqual({ dataset: 'fashion-mnist-train', offset: 59_800, samples: 200 });
    expect(r.evaluation).toEqual({ dataset: 'fashion-mnist-test', offset: 0, samples: 500 });
    const [r0, r50, r100] = r.rows;
    expect(r0.effectiveRatio).toBe(0);
    expect(r100.effectiveRatio).toBe(100);
    expect(Math.abs(r50.effectiveRatio! - 50)).toBeLessThan(2);
    expect(r50.layers.map((l) => l.lowCount)).toEqual([400, 512, 512]);
    for (const x of [...r.rows, ...r.references]) {
      expect(x.count).toBe(500);
      expect(x.top1).toBeGreaterThan(0.8);
      expect(x.latencyMsBatch1).toBeGreaterThan(0);
      expect(x.latencyMsBatch64).toBeGreaterThan(x.latencyMsBatch1);
    }
    // More 8-bit channels never hurt much: 0% is at least as accurate as 100%, up to sampling noise.
    expect(r0.top1).toBeGreaterThanOrEqual(r100.top1 - 0.01);
    expect(Math.abs(r0.top1 - r.references[0].top1)).toBeLessThanOrEqual(0.01);
    expect(r.switching.switches).toBe(40);
    expect(r.switching.switchToResultMs).toBeGreaterThan(0);
    expect(r.switching.steadyMs).toBeGreaterThan(0);
    expect(r.switching.selectUs).toBeGreaterThan(0);
    expect(r.switching.perRatio.map((p) => p.ratio)).toEqual([0, 50, 100]);
    expect(r.unusedBits.map((u) => u.histogram.reduce((a, b) => a + b, 0))).toEqual([784, 1024, 1024]);
    expect(r.search).toBeNull();
  });

  it('reports the ranking search honestly (gain may be zero)', async () => {
    const r = await runFlexiq(store, 'fmnist-mlp', { ratios: [0, 50], calibSamples: 100, evalSamples: 200, latencyRuns: 50, warmup: 2, switches: 10, search: { steps: 2 } });
    const s = r.search!;
    expect(s.tried).toBe(2);
    expect(s.accepted).toBeLessThanOrEqual(2);
    expect(s.calibScoreAfter).toBeLessThanOrEqual(s.calibScoreBefore);
    expect(s.heldOut.map((h) => h.ratio)).toEqual([50]);
    expect(s.heldOut[0].top1After).toBe(r.rows[1].top1);
    if (s.accepted === 0) expect(s.heldOut[0].channelsMoved).toBe(0);
  });

  it('refuses ratios outside [0, 100] and models without Gemm/MatMul', async () => {
    await expectCoreError(runFlexiq(store, 'fmnist-mlp', { ratios: [0, 120] }), 'flexiq-ratio-invalid');
    await expectCoreError(runFlexiq(store, 'fmnist-mlp', { ratios: [-5] }), 'flexiq-ratio-invalid');
    const vi = (name: string) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 1 }, { dimValue: 28 }, { dimValue: 28 }] } } } });
    const file = join(dirname(path), 'relu.onnx');
    writeFileSync(file, encodeModel({ irVersion: 8, opsetImport: [{ version: 13 }], graph: { name: 'g', node: [{ opType: 'Relu', input: ['input'], output: ['y'] }], input: [vi('input')], output: [vi('y')] } }));
    await importModel(store, file, { name: 'relu-only' });
    await expectCoreError(runFlexiq(store, 'relu-only'), 'quant-no-layers');
  });
});
