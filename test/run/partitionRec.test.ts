import { describe, expect, it } from 'vitest';
import { PPOCR } from '../helpers.js';
import { checkCuts, checkFp32, checkMixed, checkStructureAtEveryCut, loadCase, sampledCuts, SMALL_INPUTS } from './partitionCheck.js';

/**
 * PP-OCRv4 rec (opset 9, CNN + transformer, 440 layers; 227 of its 441 cuts cross 2 to 10 tensors, 140 carry int64
 * shape data, which crosses unquantized). Every cut is checked structurally; the numerical checks sample (see
 * partitionDet.test.ts): FP32 at every 6th cut, the quantized plan at every 23rd, both with 0 and L.
 */
describe('partitions of PP-OCR rec', () => {
  const m = PPOCR[1];

  it('structure at every cut', async () => {
    expect(await checkStructureAtEveryCut(m.name, m.file, SMALL_INPUTS.rec)).toBe(441);
  });

  it('head → tail reproduces the whole model: FP32 at every 6th cut, quantized at every 23rd', async () => {
    const c = await loadCase(m.name, m.file, SMALL_INPUTS.rec);
    expect(await checkCuts(c, sampledCuts(c, 6, 0, false), checkFp32)).toBe(75);
    expect(await checkCuts(c, sampledCuts(c, 23, 0, false), checkMixed)).toBe(21);
  }, 120_000);
});
