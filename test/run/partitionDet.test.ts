import { describe, expect, it } from 'vitest';
import { PPOCR } from '../helpers.js';
import { checkCuts, checkFp32, checkMixed, checkStructureAtEveryCut, loadCase, sampledCuts, SMALL_INPUTS } from './partitionCheck.js';

/**
 * PP-OCRv4 det (opset 11, 330 layers; 279 of its 331 cuts cross 2 to 5 tensors). Every cut is checked
 * structurally. Running a cut costs two ONNX Runtime sessions (~0.14 s of CPU; a quantized plan ~0.56 s), and even
 * "every k-th cut plus every multi-tensor cut" is 280+ cuts, so the numerical checks sample: FP32 at every 4th cut,
 * the quantized plan at every 15th (a step coprime with the 8-step cycle of link widths), both with 0 and L.
 */
describe('partitions of PP-OCR det', () => {
  const m = PPOCR[0];

  it('structure at every cut', async () => {
    expect(await checkStructureAtEveryCut(m.name, m.file, SMALL_INPUTS.det)).toBe(331);
  });

  it('head → tail reproduces the whole model: FP32 at every 4th cut, quantized at every 15th', async () => {
    const c = await loadCase(m.name, m.file, SMALL_INPUTS.det);
    expect(await checkCuts(c, sampledCuts(c, 4, 0, false), checkFp32)).toBe(84);
    expect(await checkCuts(c, sampledCuts(c, 15, 0, false), checkMixed)).toBe(23);
  }, 120_000);
});
