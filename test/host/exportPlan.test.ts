import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlanFileSchema } from '../../core/api/planFile.js';
import { FASHION_MNIST_DIR, loadIdxDataset, pixelBatch } from '../../core/accuracy/idxDataset.js';
import { addFashionMnist } from '../../core/host/datasets.js';
import { exportPlan } from '../../core/host/exportPlan.js';
import { importModel } from '../../core/host/models.js';
import type { SqliteStore } from '../../core/store/sqliteStore.js';
import { sha256Hex } from '../../core/util/hash.js';
import { planJsonSchema } from '../../scripts/genSchemas.js';
import { ROOT, ZOO, tempStore } from '../helpers.js';

let store: SqliteStore;
let cleanup: () => void;
let dir: string;
beforeAll(async () => {
  ({ store, cleanup, path: dir } = tempStore());
  dir = join(dir, '..', 'export');
  addFashionMnist(store);
  await importModel(store, ZOO[0].file);
});
afterAll(() => cleanup());

/** 16 real test images, [16, 1, 28, 28] in [0, 1]. */
let testImages: ort.Tensor;
const argmax = (logits: Float32Array, row: number) => {
  const r = Array.from(logits.subarray(row * 10, row * 10 + 10));
  return r.indexOf(Math.max(...r));
};
async function chain(folder: string, x: ort.Tensor, opt: 'disabled' | 'all' = 'all'): Promise<Float32Array> {
  const head = await ort.InferenceSession.create(readFileSync(join(folder, 'head.onnx')), { graphOptimizationLevel: opt });
  const tail = await ort.InferenceSession.create(readFileSync(join(folder, 'tail.onnx')), { graphOptimizationLevel: opt });
  const mid = await head.run({ input: x });
  return (await tail.run(Object.fromEntries(tail.inputNames.map((n) => [n, mid[n]])))).logits.data as Float32Array;
}
async function runWhole(x: ort.Tensor, opt: 'disabled' | 'all' = 'all'): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(readFileSync(ZOO[0].file), { graphOptimizationLevel: opt });
  return (await s.run({ input: x })).logits.data as Float32Array;
}

describe('export', () => {
  beforeAll(() => {
    const test = loadIdxDataset(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), null);
    testImages = new ort.Tensor('float32', pixelBatch(test, 0, 16), [16, 1, 28, 28]);
  });

  it('writes plan.json, head.onnx, tail.onnx, ORT/AIMET files and report.html that load and agree', async () => {
    const plan = { cut: 6, bits: [4, 32, 32, 8, 32, 32], activationBits: 8 };
    const r = await exportPlan(store, 'fmnist-cnn', plan, { outDir: dir, calib: 'fashion-mnist-train' });
    expect(Object.keys(r.files).sort()).toEqual(['encodings.aimet.json', 'head.onnx', 'plan.json', 'quantization.ort.json', 'report.html', 'tail.onnx']);
    const pf = PlanFileSchema.parse(JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')));
    expect(pf.cut).toBe(6);
    expect(pf.link.every((l) => l.encoding === 'codes' && l.bits === 8)).toBe(true);
    expect(sha256Hex(readFileSync(join(dir, 'head.onnx')))).toBe(pf.files['head.onnx'].sha256);
    // The halves run in onnxruntime-node and chain: the head's outputs are the tail's inputs.
    // The halves run in onnxruntime-node and chain, and the quantized pair still classifies like the FP32 model.
    const q = await chain(dir, testImages);
    const f = await runWhole(testImages);
    let agree = 0;
    for (let i = 0; i < 16; i++) agree += Number(argmax(q, i) === argmax(f, i));
    expect(agree).toBeGreaterThanOrEqual(15);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('<table>');
  });

  it('an FP32 plan exports halves that reproduce the original model bit for bit', async () => {
    const out = join(dir, '..', 'export-fp32');
    await exportPlan(store, 'fmnist-cnn', { cut: 7, bits: [32, 32, 32, 32, 32, 32, 32], activationBits: 32 }, { outDir: out });
    const a = await chain(out, testImages, 'disabled');
    const b = await runWhole(testImages, 'disabled');
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });

  it('a link below 16 bits without calibration data is refused, nothing written', async () => {
    await expect(exportPlan(store, 'fmnist-cnn', { cut: 3, bits: [8, 32, 32], activationBits: 8 }, { outDir: join(dir, 'x') })).rejects.toMatchObject({ code: 'quant-not-calibrated' });
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it('the committed JSON Schema of plan.json is the one the zod schema generates', () => {
    expect(readFileSync(join(ROOT, 'schemas/plan.schema.json'), 'utf8')).toBe(planJsonSchema());
  });
});
