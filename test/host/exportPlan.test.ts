import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlanFileSchema } from '../../core/api/planFile.js';
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

describe('export', () => {
  it('writes plan.json, head.onnx, tail.onnx, ORT/AIMET files and report.html that load and agree', async () => {
    const plan = { cut: 6, bits: [4, 32, 32, 8, 32, 32], activationBits: 8 };
    const r = await exportPlan(store, 'fmnist-cnn', plan, { outDir: dir, calib: 'fashion-mnist-train' });
    for (const f of ['plan.json', 'head.onnx', 'tail.onnx', 'quantization.ort.json', 'encodings.aimet.json', 'report.html']) {
      expect(r.files[f] ?? f === 'plan.json', f).toBeTruthy();
    }
    const pf = PlanFileSchema.parse(JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')));
    expect(pf.cut).toBe(6);
    expect(pf.link.every((l) => l.encoding === 'codes' && l.bits === 8)).toBe(true);
    expect(sha256Hex(readFileSync(join(dir, 'head.onnx')))).toBe(pf.files['head.onnx'].sha256);
    // The halves run in onnxruntime-node and chain: the head's outputs are the tail's inputs.
    const head = await ort.InferenceSession.create(readFileSync(join(dir, 'head.onnx')));
    const tail = await ort.InferenceSession.create(readFileSync(join(dir, 'tail.onnx')));
    const x = new ort.Tensor('float32', new Float32Array(784).fill(0.5), [1, 1, 28, 28]);
    const mid = await head.run({ input: x });
    const y = await tail.run(Object.fromEntries(tail.inputNames.map((n) => [n, mid[n]])));
    expect((y.logits.data as Float32Array).length).toBe(10);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('<table>');
  });

  it('a link below 16 bits without calibration data is refused, nothing written', async () => {
    await expect(exportPlan(store, 'fmnist-cnn', { cut: 3, bits: [8, 32, 32], activationBits: 8 }, { outDir: join(dir, 'x') })).rejects.toMatchObject({ code: 'quant-not-calibrated' });
  });

  it('the committed JSON Schema of plan.json is the one the zod schema generates', () => {
    expect(readFileSync(join(ROOT, 'schemas/plan.schema.json'), 'utf8')).toBe(planJsonSchema());
  });
});
