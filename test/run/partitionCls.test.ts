import { describe, expect, it } from 'vitest';
import { PPOCR } from '../helpers.js';
import { allCuts, checkCuts, checkFp32, loadCase, SMALL_INPUTS } from './partitionCheck.js';

/**
 * PP-OCR's mobile classifier (opset 9, weights in Constant nodes, 161 of its 222 cuts cross two or three tensors):
 * FP32 plans at every cut. Structure: partition.test.ts; quantized plans: partitionClsQuant.test.ts.
 */
describe('partitions of PP-OCR cls', () => {
  it('FP32 plans: head → tail equals the original at every one of the 222 cuts', async () => {
    const c = await loadCase(PPOCR[2].name, PPOCR[2].file, SMALL_INPUTS.cls);
    expect(await checkCuts(c, allCuts(c), checkFp32)).toBe(222);
  }, 120_000);
});
