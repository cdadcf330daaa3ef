import { describe, expect, it } from 'vitest';
import { PPOCR } from '../helpers.js';
import { allCuts, checkCuts, checkMixed, loadCase, SMALL_INPUTS } from './partitionCheck.js';

/**
 * PP-OCR cls with a quantized plan at every one of its 222 cuts, against writePlanReference bit for bit. Opset 9 has
 * no QuantizeLinear, so its link always takes the Div/round/Clip/Cast form. About 0.19 s of CPU per cut (three
 * sessions, the head quantized twice), hence a file of its own.
 */
describe('quantized partitions of PP-OCR cls', () => {
  it('head → tail reproduces the quantized whole model at every cut', async () => {
    const c = await loadCase(PPOCR[2].name, PPOCR[2].file, SMALL_INPUTS.cls);
    expect(await checkCuts(c, allCuts(c), checkMixed)).toBe(222);
  }, 120_000);
});
