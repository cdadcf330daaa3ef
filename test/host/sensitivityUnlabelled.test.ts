import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addIdxDataset } from '../../core/host/datasets.js';
import { importModel } from '../../core/host/models.js';
import { estimateDegradation } from '../../core/host/sensitivity.js';
import { mulberry32 } from '../../core/util/random.js';
import { PPOCR, tempStore } from '../helpers.js';

/** An unlabelled IDX image file (N x 3 x 48 x 192 unsigned bytes): smooth seeded stripes, like bright text lines. */
function writeIdx(path: string, n: number, dims: number[]): void {
  const per = dims.reduce((a, b) => a * b, 1);
  const header = Buffer.alloc(4 + 4 * (dims.length + 1));
  header.writeUInt16BE(0, 0);
  header.writeUInt8(0x08, 2);
  header.writeUInt8(dims.length + 1, 3);
  [n, ...dims].forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const rand = mulberry32(21);
  const pixels = new Uint8Array(n * per);
  const w = dims[dims.length - 1];
  for (let s = 0; s < n; s++) {
    const period = 4 + Math.floor(rand() * 12);
    const phase = rand() * 6.28;
    for (let i = 0; i < per; i++) pixels[s * per + i] = Math.round(127 + 120 * Math.sin(((i % w) / period) * 6.28 + phase) * (rand() < 0.9 ? 1 : -1));
  }
  writeFileSync(path, Buffer.concat([header, pixels]));
}

describe('sensitivity on unlabelled data (PP-OCR has no labelled set): agreement with FP32', () => {
  const t = tempStore();
  const cls = PPOCR.find((p) => p.name === 'cls')!;
  beforeAll(async () => {
    await importModel(t.store, cls.file, { name: 'cls' });
    const file = join(t.path, '..', 'lines-idx3-ubyte');
    writeIdx(file, 24, [3, 48, 192]);
    addIdxDataset(t.store, 'synthetic-lines', file);
  }, 120_000);
  afterAll(() => t.cleanup());

  it('measures the share of decisions that change, per layer and width, and both estimators', async () => {
    const r = await estimateDegradation(t.store, 'cls', { dataset: 'synthetic-lines', samples: 24, bits: [8, 2], linkBits: [] });
    const s = r.sensitivity;
    expect(s.metric).toBe('agreement');
    expect(s.fp32Top1).toBe(1);
    for (const row of s.drop) for (const d of row) expect(d >= 0 && d <= 1).toBe(true);
    // Two-bit weights move the outputs further from FP32 than eight-bit ones, summed over the layers.
    const klSum = (j: number) => s.kl.reduce((a, row) => a + row[j], 0);
    expect(klSum(1)).toBeGreaterThan(klSum(0));
    expect(r.noise.kappa.every((k) => Number.isFinite(k) && k >= 0)).toBe(true);
  }, 300_000);
});
