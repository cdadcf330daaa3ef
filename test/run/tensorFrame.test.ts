import { describe, expect, it } from 'vitest';
import { isCoreError } from '../../core/api/errors.js';
import { decodeTensorFrame, encodeTensorFrame, type FrameTensor } from '../../core/run/tensorFrame.js';
import { mulberry32 } from '../../core/util/random.js';

const rand = mulberry32(42);
const sample = (): FrameTensor[] => [
  { name: '/layer1/Relu_output_0', dtype: 'float32', dims: [1, 3, 5, 7], data: Float32Array.from({ length: 105 }, () => rand() * 10 - 5) },
  { name: 'shape', dtype: 'int64', dims: [4], data: BigInt64Array.of(1n, -1n, 2n ** 40n, 0n) },
  { name: 'codes8', dtype: 'uint8', dims: [2, 9], data: Uint8Array.from({ length: 18 }, (_, i) => (i * 37) % 256) },
  { name: 'half', dtype: 'float16', dims: [3], data: Uint16Array.of(0x3c00, 0x7c00, 0x8001) },
  { name: 'mask', dtype: 'bool', dims: [5], data: Uint8Array.of(1, 0, 0, 1, 1) },
  { name: 'empty', dtype: 'float32', dims: [0, 4], data: new Float32Array(0) },
  { name: 'scalar', dtype: 'float64', dims: [], data: Float64Array.of(Math.PI) },
  { name: 'i32', dtype: 'int32', dims: [2], data: Int32Array.of(-2147483648, 2147483647) },
];

/** Rewrites the JSON header of a valid frame (keeping the data section where the new header puts it). */
function withHeader(frame: Uint8Array, edit: (h: { v: number; tensors: Record<string, unknown>[] }) => void): Uint8Array {
  const hl = new DataView(frame.buffer, frame.byteOffset).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(frame.subarray(8, 8 + hl)));
  const dataStart = Math.ceil((8 + hl) / 8) * 8;
  edit(header);
  const nh = new TextEncoder().encode(JSON.stringify(header));
  const nStart = Math.ceil((8 + nh.length) / 8) * 8;
  const out = new Uint8Array(nStart + frame.length - dataStart);
  out.set(frame.subarray(0, 4));
  new DataView(out.buffer).setUint32(4, nh.length, true);
  out.set(nh, 8);
  out.set(frame.subarray(dataStart), nStart);
  return out;
}

function malformed(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(isCoreError(e)).toBe(true);
    expect((e as { code: string }).code).toBe('frame-malformed');
    return (e as Error).message;
  }
  throw new Error('expected frame-malformed');
}

describe('tensor frames', () => {
  it('round-trip every dtype, empty and scalar tensors, bit for bit', () => {
    const tensors = sample();
    const frame = encodeTensorFrame(tensors);
    const back = decodeTensorFrame(frame);
    expect(back.map((t) => [t.name, t.dtype, t.dims])).toEqual(tensors.map((t) => [t.name, t.dtype, t.dims]));
    back.forEach((t, i) => {
      expect(t.data.constructor).toBe(tensors[i].data.constructor);
      expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(tensors[i].data.buffer, tensors[i].data.byteOffset, tensors[i].data.byteLength))).toBe(true);
    });
    // Decoded data is an aligned copy, not a view into the frame.
    expect(back[0].data.buffer).not.toBe(frame.buffer);
    expect(decodeTensorFrame(encodeTensorFrame([]))).toEqual([]);
  });

  it('decodes a frame that sits at an odd offset inside a larger buffer', () => {
    const frame = encodeTensorFrame(sample());
    const big = new Uint8Array(frame.length + 3);
    big.set(frame, 3);
    expect(decodeTensorFrame(big.subarray(3)).map((t) => t.name)).toEqual(sample().map((t) => t.name));
  });

  it('packs sub-byte codes to b bits per element on the wire and unpacks them', () => {
    for (const bits of [1, 2, 3, 4, 5, 6, 7]) {
      const n = 1001;
      const codes = Uint8Array.from({ length: n }, () => Math.floor(rand() * 2 ** bits));
      const frame = encodeTensorFrame([{ name: 'x', dtype: 'uint8', dims: [7, 11, 13], data: codes, bits }]);
      const [t] = decodeTensorFrame(frame);
      expect(t.bits).toBe(bits);
      expect(Array.from(t.data as Uint8Array)).toEqual(Array.from(codes));
      const plain = encodeTensorFrame([{ name: 'x', dtype: 'uint8', dims: [7, 11, 13], data: codes }]);
      expect(plain.length - frame.length).toBeGreaterThanOrEqual(n - Math.ceil((n * bits) / 8) - 8);
    }
  });

  it('refuses inconsistent input on encode (a caller bug, plain Error)', () => {
    expect(() => encodeTensorFrame([{ name: 'x', dtype: 'float32', dims: [2, 2], data: new Float32Array(3) }])).toThrow(/elements/);
    expect(() => encodeTensorFrame([{ name: 'x', dtype: 'uint8', dims: [1], data: Uint8Array.of(9), bits: 3 }])).toThrow(/does not fit/);
    expect(() => encodeTensorFrame([{ name: 'x', dtype: 'float32', dims: [1], data: new Float64Array(1) }])).toThrow(/4-byte/);
    expect(() => encodeTensorFrame([{ name: 'a', dtype: 'uint8', dims: [1], data: new Uint8Array(1) }, { name: 'a', dtype: 'uint8', dims: [1], data: new Uint8Array(1) }])).toThrow(/repeated/);
  });

  describe('malformed frames are refused with frame-malformed', () => {
    const good = encodeTensorFrame(sample());

    it('truncated anywhere', () => {
      for (const len of [0, 3, 7, 8, 20, good.length - 1, good.length - 100]) malformed(() => decodeTensorFrame(good.subarray(0, len)));
      // Every single truncation point, not only a few.
      for (let len = 0; len < good.length; len += 13) malformed(() => decodeTensorFrame(good.subarray(0, len)));
    });

    it('trailing bytes, wrong magic, header length beyond the frame or huge', () => {
      const longer = new Uint8Array(good.length + 8);
      longer.set(good);
      expect(malformed(() => decodeTensorFrame(longer))).toMatch(/tensors end at byte/);
      const magic = good.slice();
      magic[0] = 0x51;
      expect(malformed(() => decodeTensorFrame(magic))).toMatch(/PTF1/);
      const hl = good.slice();
      new DataView(hl.buffer).setUint32(4, good.length, true);
      malformed(() => decodeTensorFrame(hl));
      new DataView(hl.buffer).setUint32(4, 0xffffffff, true);
      expect(malformed(() => decodeTensorFrame(hl))).toMatch(/limit/);
    });

    it('a header that is not UTF-8 JSON of the right form', () => {
      const raw = (text: string | Uint8Array) => {
        const h = typeof text === 'string' ? new TextEncoder().encode(text) : text;
        const f = new Uint8Array(Math.ceil((8 + h.length) / 8) * 8);
        f.set([0x50, 0x54, 0x46, 0x31]);
        new DataView(f.buffer).setUint32(4, h.length, true);
        f.set(h, 8);
        return f;
      };
      for (const h of ['', 'nope', '[]', 'null', '{"v":2,"tensors":[]}', '{"tensors":{}}', Uint8Array.of(0xff, 0xfe, 0x7b)]) malformed(() => decodeTensorFrame(raw(h)));
      expect(decodeTensorFrame(raw('{"v":1,"tensors":[]}'))).toEqual([]);
    });

    it('wrong lengths and offsets', () => {
      malformed(() => decodeTensorFrame(withHeader(good, (h) => (h.tensors[0].bytes = 416))));
      malformed(() => decodeTensorFrame(withHeader(good, (h) => (h.tensors[0].bytes = '420'))));
      malformed(() => decodeTensorFrame(withHeader(good, (h) => (h.tensors[1].offset = (h.tensors[1].offset as number) + 8))));
      malformed(() => decodeTensorFrame(withHeader(good, (h) => (h.tensors[1].offset = 0))));
      // Overlapping or re-ordered tensors are not the canonical layout.
      malformed(() => decodeTensorFrame(withHeader(good, (h) => h.tensors.reverse())));
      malformed(() => decodeTensorFrame(withHeader(good, (h) => delete h.tensors[2].offset)));
    });

    it('bad dtypes, dims, names and fields', () => {
      for (const dtype of ['float8', 'string', '', 7, null, '__proto__', 'constructor']) {
        expect(malformed(() => decodeTensorFrame(withHeader(good, (h) => (h.tensors[0].dtype = dtype))))).toMatch(/dtype/);
      }
      for (const dims of [[-1, 105], [1.5, 70], ['1', 105], null, 'abc', [[1]], new Array(17).fill(1)]) {
        malformed(() => decodeTensorFrame(withHeader(good, (h) => (h.tensors[0].dims = dims))));
      }
      for (const name of ['', 5, null, 'x'.repeat(2000)]) malformed(() => decodeTensorFrame(withHeader(good, (h) => (h.tensors[0].name = name))));
      expect(malformed(() => decodeTensorFrame(withHeader(good, (h) => (h.tensors[1].name = h.tensors[0].name))))).toMatch(/twice/);
      expect(malformed(() => decodeTensorFrame(withHeader(good, (h) => (h.tensors[0].extra = 1))))).toMatch(/unknown field/);
      malformed(() => decodeTensorFrame(withHeader(good, (h) => (h.tensors[0].bits = 4))));
      malformed(() => decodeTensorFrame(withHeader(good, (h) => (h.tensors[2].bits = 8))));
    });

    it('absurd dims and huge declared sizes fail before any allocation', () => {
      for (const dims of [[2 ** 31, 2 ** 31], [1e15], [2 ** 53, 2], [65536, 65536, 65536]]) {
        expect(malformed(() => decodeTensorFrame(withHeader(good, (h) => (h.tensors[0].dims = dims))))).toMatch(/more than|whole number/);
      }
      // Within the element limit but far beyond the frame: refused by length, not by running out of memory.
      const huge = withHeader(good, (h) => {
        h.tensors = [{ name: 'x', dtype: 'float64', dims: [2 ** 28], offset: 0, bytes: 2 ** 31 }];
      });
      expect(malformed(() => decodeTensorFrame(huge))).toMatch(/frame has/);
      const many = withHeader(good, (h) => {
        h.tensors = Array.from({ length: 5000 }, (_, i) => ({ name: `t${i}`, dtype: 'uint8', dims: [0], offset: 0, bytes: 0 }));
      });
      expect(malformed(() => decodeTensorFrame(many))).toMatch(/5000 tensors/);
    });

    it('non-canonical contents: non-zero padding, bool outside 0/1, bits after the last code', () => {
      const pad = good.slice();
      const hl = new DataView(pad.buffer).getUint32(4, true);
      const firstData = Math.ceil((8 + hl) / 8) * 8;
      if (firstData > 8 + hl) {
        pad[8 + hl] = 1;
        expect(malformed(() => decodeTensorFrame(pad))).toMatch(/padding/);
      }
      const bool = encodeTensorFrame([{ name: 'b', dtype: 'bool', dims: [2], data: Uint8Array.of(1, 0) }]);
      bool[bool.length - 1] = 2;
      expect(malformed(() => decodeTensorFrame(bool))).toMatch(/bool/);
      const packed = encodeTensorFrame([{ name: 'c', dtype: 'uint8', dims: [3], data: Uint8Array.of(1, 2, 3), bits: 3 }]);
      packed[packed.length - 1] |= 0x80;
      expect(malformed(() => decodeTensorFrame(packed))).toMatch(/after its last code/);
    });

    it('random corruption never crashes: it decodes or throws frame-malformed', () => {
      const r = mulberry32(7);
      for (let k = 0; k < 2000; k++) {
        const f = good.slice();
        const flips = 1 + Math.floor(r() * 4);
        // Mostly the prefix and header, where the structure lives.
        for (let j = 0; j < flips; j++) f[Math.floor(r() * Math.min(f.length, 700))] = Math.floor(r() * 256);
        try {
          decodeTensorFrame(f);
        } catch (e) {
          expect((e as { code?: string }).code).toBe('frame-malformed');
        }
      }
    });
  });
});
