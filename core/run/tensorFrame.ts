import { CoreError } from '../api/errors.js';
import { packCodes, unpackCodes } from '../quant/packing.js';

/**
 * One binary frame holding a set of named tensors: what crosses the link between device and server (the cut
 * tensors on the uplink, the results on the downlink), here through the link emulator and later over the device
 * agent's WebSocket. Pure: no Node APIs, so a browser agent can use it as it is.
 *
 * Layout (all integers little-endian):
 *
 *   0   4  magic "PTF1"
 *   4   4  u32 H: byte length of the header
 *   8   H  header, UTF-8 JSON: {"v":1,"tensors":[{"name","dtype","dims","offset","bytes","bits"?}, …]}
 *   D   …  data, D = 8 + H rounded up to a multiple of 8; tensor i's raw bytes at D + offset_i
 *
 * Tensors are laid out in header order, each starting at an 8-byte-aligned offset (zero padding between), and the
 * frame ends with the last tensor's bytes. Element data is raw little-endian; float16 is carried as its 16-bit
 * patterns, bool as one byte 0/1. A uint8 tensor with `bits` b < 8 is a tensor of b-bit codes packed densely
 * (packing.ts layout, first code in the low bits): ceil(n*b/8) bytes on the wire instead of n. That is how
 * sub-8-bit activations cost n*b/8 bytes on the link.
 *
 * Decoding trusts nothing: every length, offset, dtype, dim, name and the total size is checked before anything
 * is allocated, and a frame that breaks a rule is refused with CoreError('frame-malformed').
 */

export type FrameDType = 'float32' | 'float16' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool';

export type FrameData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export interface FrameTensor {
  name: string;
  dtype: FrameDType;
  dims: number[];
  /** Element data (float16 as Uint16Array bit patterns, bool as Uint8Array of 0/1). */
  data: FrameData;
  /** uint8 only: the codes use this many bits (1..7) and are packed on the wire. */
  bits?: number;
}

const DTYPES: Record<FrameDType, { bytes: number; make: (buf: ArrayBuffer) => FrameData }> = {
  float32: { bytes: 4, make: (b) => new Float32Array(b) },
  float16: { bytes: 2, make: (b) => new Uint16Array(b) },
  float64: { bytes: 8, make: (b) => new Float64Array(b) },
  int8: { bytes: 1, make: (b) => new Int8Array(b) },
  uint8: { bytes: 1, make: (b) => new Uint8Array(b) },
  int16: { bytes: 2, make: (b) => new Int16Array(b) },
  uint16: { bytes: 2, make: (b) => new Uint16Array(b) },
  int32: { bytes: 4, make: (b) => new Int32Array(b) },
  uint32: { bytes: 4, make: (b) => new Uint32Array(b) },
  int64: { bytes: 8, make: (b) => new BigInt64Array(b) },
  uint64: { bytes: 8, make: (b) => new BigUint64Array(b) },
  bool: { bytes: 1, make: (b) => new Uint8Array(b) },
};

const MAGIC = [0x50, 0x54, 0x46, 0x31]; // "PTF1"
const PREFIX = 8;
const ALIGN = 8;

/** Limits a decoder enforces; the defaults suit activations of the models Partita handles. */
export interface FrameLimits {
  /** Largest frame accepted, bytes (default 1 GiB). */
  maxFrameBytes: number;
  /** Largest header, bytes (default 1 MiB). */
  maxHeaderBytes: number;
  maxTensors: number;
  maxRank: number;
  /** Largest element count of one tensor (default 2^31 - 1). */
  maxElements: number;
  maxNameLength: number;
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = {
  maxFrameBytes: 2 ** 30,
  maxHeaderBytes: 2 ** 20,
  maxTensors: 4096,
  maxRank: 16,
  maxElements: 2 ** 31 - 1,
  maxNameLength: 1024,
};

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function checkHost(): void {
  if (!LITTLE_ENDIAN) throw new Error('tensor frames assume a little-endian host');
}

const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** Bytes a tensor's data takes on the wire. */
export function wireByteLength(dtype: FrameDType, elements: number, bits?: number): number {
  return bits !== undefined ? Math.ceil((elements * bits) / 8) : elements * DTYPES[dtype].bytes;
}

/** Encodes tensors into one frame. Inconsistent input (dims vs data length, codes wider than `bits`) is a caller bug. */
export function encodeTensorFrame(tensors: readonly FrameTensor[]): Uint8Array {
  checkHost();
  const names = new Set<string>();
  const payloads: Uint8Array[] = [];
  const entries: { name: string; dtype: FrameDType; dims: number[]; offset: number; bytes: number; bits?: number }[] = [];
  let offset = 0;
  for (const t of tensors) {
    const spec = DTYPES[t.dtype];
    if (!spec) throw new Error(`tensor '${t.name}': unknown dtype '${String(t.dtype)}'`);
    if (!t.name || names.has(t.name)) throw new Error(`tensor name '${t.name}' is empty or repeated`);
    names.add(t.name);
    if (!t.dims.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`tensor '${t.name}': dims [${t.dims.join(', ')}] are not sizes`);
    const n = t.dims.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`tensor '${t.name}': dims [${t.dims.join(', ')}] hold ${n} elements, data has ${t.data.length}`);
    if (t.data.BYTES_PER_ELEMENT !== spec.bytes) throw new Error(`tensor '${t.name}': ${t.dtype} data needs ${spec.bytes}-byte elements`);
    let bytes: Uint8Array;
    if (t.bits !== undefined) {
      if (t.dtype !== 'uint8' || !Number.isInteger(t.bits) || t.bits < 1 || t.bits > 7) throw new Error(`tensor '${t.name}': packed codes must be uint8 with 1..7 bits`);
      bytes = packCodes(t.data as Uint8Array, t.bits);
    } else {
      bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    }
    entries.push({ name: t.name, dtype: t.dtype, dims: [...t.dims], offset, bytes: bytes.length, ...(t.bits !== undefined ? { bits: t.bits } : {}) });
    payloads.push(bytes);
    offset = align(offset + bytes.length);
  }
  const header = new TextEncoder().encode(JSON.stringify({ v: 1, tensors: entries }));
  const dataStart = align(PREFIX + header.length);
  const total = entries.length ? dataStart + entries[entries.length - 1].offset + entries[entries.length - 1].bytes : dataStart;
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(4, header.length, true);
  out.set(header, PREFIX);
  entries.forEach((e, i) => out.set(payloads[i], dataStart + e.offset));
  return out;
}

/** Decodes and validates a frame; the tensors own fresh, aligned copies of their data. */
export function decodeTensorFrame(frame: Uint8Array, limits: Partial<FrameLimits> = {}): FrameTensor[] {
  checkHost();
  const lim = { ...DEFAULT_FRAME_LIMITS, ...limits };
  const bad = (why: string): never => {
    throw new CoreError('frame-malformed', `The tensor frame is malformed: ${why}. The sender must encode frames with encodeTensorFrame.`);
  };
  if (!(frame instanceof Uint8Array)) bad('it is not a byte array');
  if (frame.length > lim.maxFrameBytes) bad(`it is ${frame.length} bytes, more than the limit of ${lim.maxFrameBytes}`);
  if (frame.length < PREFIX) bad(`it is ${frame.length} bytes, shorter than the ${PREFIX}-byte prefix`);
  if (MAGIC.some((m, i) => frame[i] !== m)) bad('it does not start with "PTF1"');
  const headerLength = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(4, true);
  if (headerLength > lim.maxHeaderBytes) bad(`the header claims ${headerLength} bytes, more than the limit of ${lim.maxHeaderBytes}`);
  if (PREFIX + headerLength > frame.length) bad(`the header claims ${headerLength} bytes but the frame has ${frame.length - PREFIX} after the prefix`);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(frame.subarray(PREFIX, PREFIX + headerLength)));
  } catch {
    bad('its header is not UTF-8 JSON');
  }
  if (!isRecord(header) || header.v !== 1 || !Array.isArray(header.tensors)) bad('its header is not {"v":1,"tensors":[…]}');
  const list = (header as { tensors: unknown[] }).tensors;
  if (list.length > lim.maxTensors) bad(`it declares ${list.length} tensors, more than the limit of ${lim.maxTensors}`);

  const dataStart = align(PREFIX + headerLength);
  if (dataStart > frame.length) bad(`it ends at byte ${frame.length}, before its data section starts at ${dataStart}`);
  for (let k = PREFIX + headerLength; k < dataStart; k++) if (frame[k] !== 0) bad(`padding byte ${k} after the header is not zero`);
  const names = new Set<string>();
  const out: FrameTensor[] = [];
  let expectedOffset = 0;
  let end = dataStart;
  list.forEach((entry, i) => {
    const where = `tensor ${i}`;
    if (!isRecord(entry)) bad(`${where} is not an object`);
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) if (!['name', 'dtype', 'dims', 'offset', 'bytes', 'bits'].includes(k)) bad(`${where} has an unknown field '${k.slice(0, 40)}'`);
    const name = e.name;
    if (typeof name !== 'string' || name.length === 0 || name.length > lim.maxNameLength) bad(`${where} has no valid name (a string of 1..${lim.maxNameLength} characters)`);
    if (names.has(name as string)) bad(`tensor name '${String(name).slice(0, 80)}' appears twice`);
    names.add(name as string);
    const label = `tensor '${String(name).slice(0, 80)}'`;
    const dtype = e.dtype;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPES, dtype)) bad(`${label} has dtype ${JSON.stringify(dtype)?.slice(0, 40)}, not one of ${Object.keys(DTYPES).join(', ')}`);
    const dims = e.dims;
    if (!Array.isArray(dims) || dims.length > lim.maxRank) bad(`${label} has no dims array of rank <= ${lim.maxRank}`);
    let elements = 1;
    for (const d of dims as unknown[]) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) bad(`${label} has dims ${JSON.stringify(dims).slice(0, 80)}; each must be a whole number >= 0`);
      elements *= d as number;
      if (elements > lim.maxElements) bad(`${label} declares more than ${lim.maxElements} elements (dims ${JSON.stringify(dims).slice(0, 80)})`);
    }
    const bits = e.bits;
    if (bits !== undefined && (dtype !== 'uint8' || typeof bits !== 'number' || !Number.isInteger(bits) || bits < 1 || bits > 7)) bad(`${label} has bits ${JSON.stringify(bits)}; packed codes are uint8 with 1..7 bits`);
    const want = wireByteLength(dtype as FrameDType, elements, bits as number | undefined);
    if (e.bytes !== want) bad(`${label} declares ${JSON.stringify(e.bytes)?.slice(0, 40)} bytes but ${dtype}${bits !== undefined ? `/${String(bits)}-bit` : ''} dims [${(dims as number[]).join(', ')}] take ${want}`);
    if (e.offset !== expectedOffset) bad(`${label} starts at offset ${JSON.stringify(e.offset)?.slice(0, 40)}, expected ${expectedOffset}`);
    const start = dataStart + expectedOffset;
    if (start + want > frame.length) bad(`${label} needs bytes ${start}..${start + want} but the frame has ${frame.length}`);
    for (let k = end; k < start; k++) if (frame[k] !== 0) bad(`padding byte ${k} before ${label} is not zero`);
    const raw = frame.subarray(start, start + want);
    let data: FrameData;
    if (bits !== undefined) {
      const unused = want * 8 - elements * (bits as number);
      if (unused > 0 && raw[want - 1] >> (8 - unused) !== 0) bad(`${label} has non-zero bits after its last code`);
      data = unpackCodes(raw, bits as number, elements);
    } else {
      const buf = new ArrayBuffer(want);
      new Uint8Array(buf).set(raw);
      data = DTYPES[dtype as FrameDType].make(buf);
      if (dtype === 'bool') for (let k = 0; k < data.length; k++) if ((data as Uint8Array)[k] > 1) bad(`${label} holds ${(data as Uint8Array)[k]} at element ${k}; bool elements are 0 or 1`);
    }
    out.push({ name: name as string, dtype: dtype as FrameDType, dims: [...(dims as number[])], data, ...(bits !== undefined ? { bits: bits as number } : {}) });
    end = start + want;
    expectedOffset = align(expectedOffset + want);
  });
  if (end !== frame.length) bad(`it is ${frame.length} bytes but its tensors end at byte ${end}`);
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
