import { describe, expect, it } from 'vitest';
import { PPOCR } from '../helpers.js';
import { checkCuts, checkFp32, checkMixed, checkStructureAtEveryCut, loadCase, sampledCuts, SMALL_INPUTS } from './partitionCheck.js';

/**
 * PP-OCRv4 det (330 layers, skip connections: 279 of its 331 cuts cross more than one tensor). Splitting is checked
 * structurally at every cut; running every cut twice would take minutes (a session costs ~60 ms here), so the
 * numerical check samples: FP32 at every multi-tensor cut plus every 4th cut, the quantized plan at every 12th cut.
 */
describe('partitions of PP-OCR det', () => {
  const m = PPOCR[0];

  it('structure at every cut', async () => {
    expect(await checkStructureAtEveryCut(m.name, m.file, SMALL_INPUTS.det)).toBe(331);
  });

  it('head → tail reproduces the whole model: FP32 and a quantized plan at sampled cuts', async () => {
    const c = await loadCase(m.name, m.file, SMALL_INPUTS.det);
    const t0 = performance.now();
    const fp32 = await checkCuts(c, sampledCuts(c, 4), checkFp32);
    const t1 = performance.now();
    const mixed = await checkCuts(c, sampledCuts(c, 12, 0, false), checkMixed);
    console.log(`det: FP32 at ${fp32} cuts (${((t1 - t0) / 1000).toFixed(1)} s), quantized at ${mixed} cuts (${((performance.now() - t1) / 1000).toFixed(1)} s)`);
    expect(fp32).toBeGreaterThan(280);
  });
});
