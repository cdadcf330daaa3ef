import { describe, expect, it } from 'vitest';
import { PPOCR } from '../helpers.js';
import { allCuts, checkCuts, checkMixed, loadCase, SMALL_INPUTS } from './partitionCheck.js';

/**
 * PP-OCR's mobile classifier (opset 9: no QuantizeLinear, so the link uses the Div/round/Clip/Cast form; weights are
 * Constant nodes): a quantized plan at every one of its 222 cuts. Its structure and FP32 plans are checked at every
 * cut in partition.test.ts.
 */
describe('partitions of PP-OCR cls', () => {
  it('head → tail reproduces the quantized whole model at every cut', async () => {
    const c = await loadCase(PPOCR[2].name, PPOCR[2].file, SMALL_INPUTS.cls);
    expect(await checkCuts(c, allCuts(c), checkMixed)).toBe(222);
  }, 90_000);
});
