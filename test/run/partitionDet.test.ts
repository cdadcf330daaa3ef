import { describe, expect, it } from 'vitest';
import { PPOCR } from '../helpers.js';
import { checkCuts, checkFp32, checkStructureAtEveryCut, loadCase, sampledCuts, SMALL_INPUTS } from './partitionCheck.js';

/**
 * PP-OCRv4 det (330 layers, 331 cuts, 279 of which cross more than one tensor). Every cut is checked structurally.
 * Running both halves costs two ONNX Runtime sessions per cut (~140 ms of CPU here), so the FP32 bit-exactness check
 * covers every cut whose set has more than one tensor plus every 4th cut (and 0 and L); quantized plans are in
 * partitionOcrQuant.test.ts.
 */
describe('partitions of PP-OCR det', () => {
  const m = PPOCR[0];

  it('structure at every cut', async () => {
    expect(await checkStructureAtEveryCut(m.name, m.file, SMALL_INPUTS.det)).toBe(331);
  });

  it('FP32 plans: head → tail equals the original at every multi-tensor cut and every 4th cut', async () => {
    const c = await loadCase(m.name, m.file, SMALL_INPUTS.det);
    const cuts = sampledCuts(c, 4);
    expect(cuts.length).toBe(292);
    expect(await checkCuts(c, cuts, checkFp32)).toBe(292);
  }, 90_000);
});
