import { describe, expect, it } from 'vitest';
import { PPOCR } from '../helpers.js';
import { checkCuts, checkMixed, loadCase, sampledCuts, SMALL_INPUTS } from './partitionCheck.js';

/**
 * Quantized plans on PP-OCR det (opset 11: QuantizeLinear on the link at 8 bit) and rec (opset 9), against
 * writePlanReference, bit for bit. A check builds three sessions and quantizes the head twice (~0.6 s of CPU per
 * cut), so it samples: every 15th cut of det and every 23rd of rec (steps coprime with the 8-step cycle of link
 * widths, so every width from 2 to 16 bit is exercised), plus 0 and L.
 */
describe('quantized partitions of PP-OCR det and rec', () => {
  it('det', async () => {
    const c = await loadCase(PPOCR[0].name, PPOCR[0].file, SMALL_INPUTS.det);
    expect(await checkCuts(c, sampledCuts(c, 15, 0, false), checkMixed)).toBe(24);
  }, 90_000);

  it('rec', async () => {
    const c = await loadCase(PPOCR[1].name, PPOCR[1].file, SMALL_INPUTS.rec);
    expect(await checkCuts(c, sampledCuts(c, 23, 0, false), checkMixed)).toBe(21);
  }, 90_000);
});
