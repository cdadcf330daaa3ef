import { describe, expect, it } from 'vitest';
import { PPOCR } from '../helpers.js';
import { allCuts, checkCuts, checkFp32, checkMixed, checkStructureAtEveryCut, loadCase, SMALL_INPUTS } from './partitionCheck.js';

/** PP-OCR's mobile classifier (opset 9, Constant-node weights): every one of its 222 cuts, both plans. */
describe('partitions of PP-OCR cls', () => {
  const m = PPOCR[2];

  it('structure at every cut', async () => {
    expect(await checkStructureAtEveryCut(m.name, m.file, SMALL_INPUTS.cls)).toBe(222);
  });

  it('head → tail reproduces the whole model at every cut: FP32 and a quantized plan', async () => {
    const c = await loadCase(m.name, m.file, SMALL_INPUTS.cls);
    const cuts = allCuts(c);
    expect(await checkCuts(c, cuts, checkFp32)).toBe(222);
    expect(await checkCuts(c, cuts, checkMixed)).toBe(222);
  });
});
