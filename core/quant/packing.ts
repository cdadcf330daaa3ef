/**
 * Sub-byte packing of quantization codes, any width from 1 to 8 bits.
 *
 * Bit order is little-endian throughout: code i occupies bits [i*b, (i+1)*b) of the stream, where bit k of the
 * stream is bit (k mod 8) of byte floor(k / 8). So the first code sits in the lowest bits of byte 0, and a code may
 * straddle two bytes (3, 5, 6, 7 bit). For 4 bit this is the ONNX INT4/UINT4 layout (element 0 in the low nibble)
 * and the nibble order of ORT's MatMulNBits. Unused high bits of the last byte are zero.
 *
 * Signed codes are stored offset-binary: stored = code + 2^(b-1), so [-2^(b-1), 2^(b-1)-1] maps onto [0, 2^b-1].
 * For symmetric weights this is exactly MatMulNBits' convention of unsigned codes with the default zero point
 * 2^(b-1).
 */
import { CoreError } from '../api/errors.js';
import type { QuantizedWeights } from './weightQuant.js';

function checkPackBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) {
    throw new CoreError('pack-bits-unsupported', `Cannot pack codes of ${String(bits)} bits. Use a whole number of bits from 1 to 8.`);
  }
}

/** Bytes needed for `count` codes of `bits` bits each: ceil(count * bits / 8). */
export function packedByteLength(count: number, bits: number): number {
  checkPackBits(bits);
  return Math.ceil((count * bits) / 8);
}

/**
 * Packs unsigned codes (each in 0..2^bits-1) into a little-endian bit stream of ceil(count*bits/8) bytes.
 * A code out of range is a caller bug (plain Error), not silently truncated.
 */
export function packCodes(codes: ArrayLike<number>, bits: number): Uint8Array {
  checkPackBits(bits);
  const max = (1 << bits) - 1;
  const out = new Uint8Array(Math.ceil((codes.length * bits) / 8));
  let bitPos = 0;
  for (let i = 0; i < codes.length; i++, bitPos += bits) {
    const c = codes[i];
    if (!Number.isInteger(c) || c < 0 || c > max) throw new Error(`Code ${c} at index ${i} does not fit in ${bits} unsigned bits.`);
    const byte = bitPos >>> 3;
    const shift = bitPos & 7;
    out[byte] |= (c << shift) & 0xff;
    // The part that did not fit in this byte goes to the low bits of the next one.
    if (shift + bits > 8) out[byte + 1] |= c >>> (8 - shift);
  }
  return out;
}

/** Reads `count` unsigned codes of `bits` bits back from a stream written by {@link packCodes}. */
export function unpackCodes(bytes: Uint8Array, bits: number, count: number): Uint8Array {
  checkPackBits(bits);
  const need = Math.ceil((count * bits) / 8);
  if (!Number.isInteger(count) || count < 0 || bytes.length < need) {
    throw new Error(`Cannot unpack ${count} codes of ${bits} bits from ${bytes.length} bytes (need ${need}).`);
  }
  const mask = (1 << bits) - 1;
  const out = new Uint8Array(count);
  let bitPos = 0;
  for (let i = 0; i < count; i++, bitPos += bits) {
    const byte = bitPos >>> 3;
    const shift = bitPos & 7;
    // A code spans at most two bytes (bits <= 8); read a 16-bit little-endian window.
    const window = bytes[byte] | (shift + bits > 8 ? bytes[byte + 1] << 8 : 0);
    out[i] = (window >>> shift) & mask;
  }
  return out;
}

/** Signed codes in [-2^(b-1), 2^(b-1)-1] -> offset-binary unsigned codes (code + 2^(b-1)). */
export function toOffsetBinary(codes: ArrayLike<number>, bits: number): Uint8Array {
  checkPackBits(bits);
  const offset = 1 << (bits - 1);
  const out = new Uint8Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (!Number.isInteger(c) || c < -offset || c >= offset) throw new Error(`Code ${c} at index ${i} does not fit in ${bits} signed bits.`);
    out[i] = c + offset;
  }
  return out;
}

/** Offset-binary unsigned codes -> signed codes (stored - 2^(b-1)). */
export function fromOffsetBinary(stored: ArrayLike<number>, bits: number): Int32Array {
  checkPackBits(bits);
  const offset = 1 << (bits - 1);
  const out = new Int32Array(stored.length);
  for (let i = 0; i < stored.length; i++) out[i] = stored[i] - offset;
  return out;
}

/** Packs signed codes as offset-binary (see the module comment). */
export function packSignedCodes(codes: ArrayLike<number>, bits: number): Uint8Array {
  return packCodes(toOffsetBinary(codes, bits), bits);
}

/** Inverse of {@link packSignedCodes}. */
export function unpackSignedCodes(bytes: Uint8Array, bits: number, count: number): Int32Array {
  return fromOffsetBinary(unpackCodes(bytes, bits, count), bits);
}

/**
 * Packs a quantized weight's codes at its bit width: offset-binary when symmetric (signed codes), plain when
 * asymmetric (codes already unsigned). Codes stay in element order; no per-group padding.
 */
export function packWeightCodes(q: QuantizedWeights): Uint8Array {
  return q.spec.symmetric ? packSignedCodes(q.codes, q.spec.bits) : packCodes(q.codes, q.spec.bits);
}

/**
 * Bytes a quantized weight costs to ship to a device — the number the planner uses as "bytes sent to the device":
 *
 *   ceil(elements * bits / 8)                codes, densely packed
 * + groupCount * scaleBytes                  one scale per group (4 for fp32 scales, 2 for fp16)
 * + ceil(groupCount * bits / 8)              zero points, packed at the code width — asymmetric only; symmetric
 *                                            weights have the implicit zero point 0 (offset 2^(b-1) when packed)
 *
 * Shapes, names and container framing are not counted: they are the same for every precision choice. A runtime
 * layout with padding (e.g. MatMulNBits rounds each column up to whole blocks) can be slightly larger.
 */
export function packedWeightBytes(q: QuantizedWeights, scaleBytes = 4): number {
  if (!(scaleBytes > 0)) throw new Error(`scaleBytes must be positive, got ${scaleBytes}.`);
  const elements = q.codes.length;
  const bits = q.spec.bits;
  return Math.ceil((elements * bits) / 8) + q.groupCount * scaleBytes + (q.spec.symmetric ? 0 : Math.ceil((q.groupCount * bits) / 8));
}
