import { describe, expect, it } from 'vitest';
import { PPOCR } from '../helpers.js';
import { checkCuts, checkFp32, checkStructureAtEveryCut, loadCase, sampledCuts, SMALL_INPUTS } from './partitionCheck.js';

/**
 * PP-OCRv4 rec (CNN + transformer, 440 layers, 441 cuts, 227 of which cross more than one tensor, up to 10; some
 * carry int64 shape data). Every cut is checked structurally. The FP32 bit-exactness check covers every cut whose
 * set has more than one tensor plus every 8th cut (and 0 and L); quantized plans are in partitionOcrQuant.test.ts.
 */
describe('partitions of PP-OCR rec', () => {
  const m = PPOCR[1];

  it('structure at every cut', async () => {
    expect(await checkStructureAtEveryCut(m.name, m.file, SMALL_INPUTS.rec)).toBe(441);
  });

  it('FP32 plans: head → tail equals the original at every multi-tensor cut and every 8th cut', async () => {
    const c = await loadCase(m.name, m.file, SMALL_INPUTS.rec);
    const cuts = sampledCuts(c, 8);
    console.log(`rec: FP32 checked at ${cuts.length} of ${c.graph.layers.length + 1} cuts`);
    expect(await checkCuts(c, cuts, checkFp32)).toBe(cuts.length);
  }, 90_000);
});
