import { describe, expect, it } from 'vitest';
import { isCoreError } from '../../core/api/errors.js';
import {
  fromOffsetBinary,
  packCodes,
  packSignedCodes,
  packWeightCodes,
  packedByteLength,
  packedWeightBytes,
  toOffsetBinary,
  unpackCodes,
  unpackSignedCodes,
} from '../../core/quant/packing.js';
import { quantizeWeights } from '../../core/quant/weightQuant.js';
import { mulberry32 } from '../../core/util/random.js';

const LENGTHS = [0, 1, 2, 3, 5, 7, 8, 9, 13, 31, 1001];

describe('packCodes / unpackCodes', () => {
  it('round-trips every width 1..8 and odd lengths exactly, in ceil(n*b/8) bytes', () => {
    const rand = mulberry32(11);
    for (let bits = 1; bits <= 8; bits++) {
      for (const n of LENGTHS) {
        const codes = Array.from({ length: n }, () => Math.floor(rand() * 2 ** bits));
        // Make sure the extremes occur.
        if (n >= 2) {
          codes[0] = 2 ** bits - 1;
          codes[n - 1] = 2 ** bits - 1;
        }
        const bytes = packCodes(codes, bits);
        expect(bytes.length).toBe(Math.ceil((n * bits) / 8));
        expect(bytes.length).toBe(packedByteLength(n, bits));
        expect(Array.from(unpackCodes(bytes, bits, n))).toEqual(codes);
      }
    }
  });

  it('uses little-endian bit order: first code in the lowest bits, codes straddle bytes', () => {
    expect(Array.from(packCodes([1, 2], 4))).toEqual([0x21]); // low nibble first, as ONNX INT4 and MatMulNBits
    expect(Array.from(packCodes([1, 2, 7], 3))).toEqual([0b11_010_001, 0b1]); // the third code straddles
    expect(Array.from(packCodes([1, 0, 1, 1, 0, 0, 0, 0, 1], 1))).toEqual([0b1101, 1]);
    expect(Array.from(packCodes([0x3f, 0], 6))).toEqual([0x3f, 0]);
    expect(Array.from(packCodes([0, 0x3f], 6))).toEqual([0xc0, 0x0f]);
    expect(Array.from(packCodes([200, 7], 8))).toEqual([200, 7]);
  });

  it('round-trips signed codes through offset binary', () => {
    const rand = mulberry32(12);
    for (let bits = 1; bits <= 8; bits++) {
      const half = 2 ** (bits - 1);
      for (const n of LENGTHS) {
        const codes = Array.from({ length: n }, () => Math.floor(rand() * 2 * half) - half);
        expect(Array.from(unpackSignedCodes(packSignedCodes(codes, bits), bits, n))).toEqual(codes);
        expect(Array.from(fromOffsetBinary(toOffsetBinary(codes, bits), bits))).toEqual(codes);
      }
    }
    // 4-bit symmetric weights: stored = code + 8, MatMulNBits' default zero point.
    expect(Array.from(toOffsetBinary([-7, 0, 7], 4))).toEqual([1, 8, 15]);
  });

  it('packs quantized weights at their width and unpacks them back', () => {
    const rand = mulberry32(13);
    const w = Float32Array.from({ length: 6 * 7 }, () => rand() * 2 - 1);
    for (const bits of [2, 3, 4, 5, 6, 8] as const) {
      for (const symmetric of [true, false]) {
        const q = quantizeWeights(w, [6, 7], { bits, symmetric, granularity: 'channel', clipping: 'none' });
        const bytes = packWeightCodes(q);
        const back = symmetric ? unpackSignedCodes(bytes, bits, q.codes.length) : unpackCodes(bytes, bits, q.codes.length);
        expect(Array.from(back)).toEqual(Array.from(q.codes));
      }
    }
  });

  it('rejects out-of-range codes (bug) and unsupported widths (CoreError)', () => {
    expect(() => packCodes([8], 3)).toThrow(/does not fit/);
    expect(() => packCodes([-1], 3)).toThrow(/does not fit/);
    expect(() => toOffsetBinary([4], 3)).toThrow(/does not fit/);
    expect(() => unpackCodes(new Uint8Array(1), 3, 3)).toThrow(/need 2/);
    for (const bits of [0, 9, 2.5]) {
      try {
        packCodes([0], bits);
        throw new Error('expected a CoreError');
      } catch (e) {
        expect(isCoreError(e) && e.code).toBe('pack-bits-unsupported');
      }
    }
  });
});

describe('packedWeightBytes', () => {
  const w = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
  it('counts packed codes + scales (+ packed zero points when asymmetric)', () => {
    const sym = quantizeWeights(w, [10, 100], { bits: 3, symmetric: true, granularity: 'tensor', clipping: 'none' });
    expect(packedWeightBytes(sym)).toBe(375 + 4);
    expect(packedWeightBytes(sym, 2)).toBe(375 + 2);
    const asym = quantizeWeights(w, [10, 100], { bits: 3, symmetric: false, granularity: 'tensor', clipping: 'none' });
    expect(packedWeightBytes(asym)).toBe(375 + 4 + 1);
    const perChannel = quantizeWeights(w, [10, 100], { bits: 3, symmetric: false, granularity: 'channel', clipping: 'none' });
    expect(packedWeightBytes(perChannel)).toBe(375 + 10 * 4 + Math.ceil(30 / 8));
    const blocks = quantizeWeights(w, [10, 100], { bits: 4, symmetric: true, granularity: 'block', blockSize: 20, clipping: 'none' });
    expect(blocks.groupCount).toBe(50);
    expect(packedWeightBytes(blocks, 2)).toBe(500 + 50 * 2);
    expect(packWeightCodes(blocks).length).toBe(500);
  });
});
