/**
 * Reading and writing ONNX model files, plus small helpers for tensor data.
 *
 * The wire format is handled by protobufjs code generated from ./onnx.proto (`npm run gen:onnx`).
 * Conventions of that generated code that every caller meets:
 * - field names are camelCase (`irVersion`, `rawData`, `opsetImport`, `dataLocation`);
 * - int64 fields (dims, ir_version, opset versions, INT attributes, int64_data) decode as `Long`
 *   objects, never as JS numbers, so INT64_MAX and friends survive a round trip: read them with
 *   `int64ToNumber` / `int64ToBigInt`; when building messages plain numbers are accepted too;
 * - bytes fields (`rawData`, `AttributeProto.s`, `stringData`) decode as Node Buffers that are views
 *   into the bytes given to `decodeModel`: they are not copied and may be unaligned;
 * - absent scalar fields read as the proto default from the prototype (an own property means "present").
 */
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

import { CoreError } from '../api/errors.js';
import { bytesPerElement as elementBytes } from './elementTypes.js';
import { onnx } from './generated/onnxProto.js';

export { onnx };

/** What the generated code hands out for int64 fields (a `Long` from the `long` package). */
export interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
}

const DataType = onnx.TensorProto.DataType;

// ---------------------------------------------------------------------------------------------
// Decoding and encoding
// ---------------------------------------------------------------------------------------------

const EXPORT_HINT = 'Export it with torch.onnx.export or tf2onnx and import the .onnx file.';

/** Wire type each ModelProto field is written with (0 varint, 2 length-delimited). */
const MODEL_FIELD_WIRE_TYPES: ReadonlyMap<number, number> = new Map([
  [1, 0], [2, 2], [3, 2], [4, 2], [5, 0], [6, 2], [7, 2], [8, 2], [14, 2], [20, 2], [25, 2], [26, 2],
]);

/**
 * Decode a .onnx file. Throws `CoreError` with code `model-empty`, `model-not-onnx` or
 * `model-truncated` when the bytes are not a usable ModelProto.
 */
export function decodeModel(bytes: Uint8Array, fileName: string): onnx.ModelProto {
  if (bytes.length === 0) {
    throw new CoreError('model-empty', `Model '${fileName}' is empty (0 bytes). Export the model again and import the new .onnx file.`);
  }
  const foreign = sniffForeignFormat(bytes);
  if (foreign !== undefined) {
    throw new CoreError('model-not-onnx', `Model '${fileName}' is not an ONNX file (it looks like ${foreign}). ${EXPORT_HINT}`);
  }

  const scan = scanModelTopLevel(bytes);
  if (scan.status === 'invalid') {
    throw new CoreError('model-not-onnx', `Model '${fileName}' is not an ONNX file (no ModelProto found). ${EXPORT_HINT}`);
  }
  if (scan.status === 'truncated') {
    if (scan.sawIrVersion || scan.sawGraph) {
      throw new CoreError(
        'model-truncated',
        `Model '${fileName}' is truncated (the file ends in the middle of a record after ${bytes.length} bytes). ` +
          'Copy or download the file again and check that it was written completely.',
      );
    }
    throw new CoreError('model-not-onnx', `Model '${fileName}' is not an ONNX file (no ModelProto found). ${EXPORT_HINT}`);
  }

  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new CoreError(
      'model-not-onnx',
      `Model '${fileName}' is damaged or not an ONNX file (${briefProtobufReason(e)}). ${EXPORT_HINT}`,
    );
  }

  if (!model.graph) {
    throw new CoreError('model-not-onnx', `Model '${fileName}' is not an ONNX file (it has no graph). ${EXPORT_HINT}`);
  }
  if (int64IsZero(model.irVersion)) {
    throw new CoreError('model-not-onnx', `Model '${fileName}' is not an ONNX file (it has no IR version). ${EXPORT_HINT}`);
  }
  if (model.opsetImport.length === 0) {
    throw new CoreError(
      'model-not-onnx',
      `Model '${fileName}' is not a valid ONNX file (it imports no operator set). ${EXPORT_HINT}`,
    );
  }
  return model;
}

/** Serialize a model. Fields are written in field-number order, as protobuf's C++ writer does. */
export function encodeModel(model: onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Recognise common non-ONNX files by their first bytes, so the message can say what the file is. */
function sniffForeignFormat(bytes: Uint8Array): string | undefined {
  const ascii = (from: number, to: number): string => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    return 'a ZIP archive, e.g. a PyTorch checkpoint';
  }
  if (bytes.length >= 8 && ascii(1, 4) === 'HDF') return 'an HDF5 file, e.g. a Keras model';
  if (bytes.length >= 8 && ascii(4, 8) === 'TFL3') return 'a TensorFlow Lite model';
  if (bytes.length >= 4 && ascii(0, 4) === 'GGUF') return 'a GGUF model';

  let i = 0;
  while (i < bytes.length && i < 4096 && isTextWhitespace(bytes[i])) i++;
  if (i < bytes.length && (bytes[i] === 0x7b || bytes[i] === 0x5b)) return 'JSON text';

  // Text: a binary ModelProto always has control bytes (field tags, lengths) near its start.
  const probe = bytes.subarray(0, Math.min(bytes.length, 1024));
  let printable = true;
  for (const b of probe) {
    if (!(isTextWhitespace(b) || (b >= 0x20 && b !== 0x7f))) {
      printable = false;
      break;
    }
  }
  if (printable) return 'a text file';
  return undefined;
}

function isTextWhitespace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

interface TopLevelScan {
  status: 'complete' | 'truncated' | 'invalid';
  sawIrVersion: boolean;
  sawGraph: boolean;
}

/**
 * Walk the top-level records of a would-be ModelProto without decoding them. This separates
 * "the file was cut short" (every record so far is well formed, the last one runs past the end)
 * from "this was never a ModelProto" (an impossible tag or wire type).
 */
function scanModelTopLevel(bytes: Uint8Array): TopLevelScan {
  const result: TopLevelScan = { status: 'complete', sawIrVersion: false, sawGraph: false };
  const end = bytes.length;
  let pos = 0;

  const readVarint = (): number | 'truncated' | 'invalid' => {
    let value = 0;
    let scale = 1;
    for (let n = 0; n < 10; n++) {
      if (pos >= end) return 'truncated';
      const b = bytes[pos++];
      value += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) return value;
    }
    return 'invalid';
  };

  while (pos < end) {
    const tag = readVarint();
    if (tag === 'truncated' || tag === 'invalid') return { ...result, status: tag };
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) return { ...result, status: 'invalid' };
    const expected = MODEL_FIELD_WIRE_TYPES.get(field);
    if (expected !== undefined && expected !== wireType) return { ...result, status: 'invalid' };
    switch (wireType) {
      case 0: {
        const v = readVarint();
        if (v === 'truncated' || v === 'invalid') return { ...result, status: v };
        if (field === 1 && v > 0) result.sawIrVersion = true;
        break;
      }
      case 1:
        if (pos + 8 > end) return { ...result, status: 'truncated' };
        pos += 8;
        break;
      case 2: {
        const len = readVarint();
        if (len === 'truncated' || len === 'invalid') return { ...result, status: len };
        if (field === 7) result.sawGraph = true;
        if (pos + len > end) return { ...result, status: 'truncated' };
        pos += len;
        break;
      }
      case 5:
        if (pos + 4 > end) return { ...result, status: 'truncated' };
        pos += 4;
        break;
      default:
        return { ...result, status: 'invalid' };
    }
  }
  return result;
}

/** A short, stack-free reason from a protobufjs error, e.g. "invalid wire type 7 at offset 1234". */
function briefProtobufReason(e: unknown): string {
  const raw = e instanceof Error ? e.message : String(e);
  const firstLine = raw.split('\n')[0].trim();
  return firstLine.length > 120 ? `${firstLine.slice(0, 117)}...` : firstLine || 'unreadable protobuf data';
}

// ---------------------------------------------------------------------------------------------
// External data
// ---------------------------------------------------------------------------------------------

/**
 * Load every tensor stored outside the model file (data_location EXTERNAL) into `rawData`, in place:
 * initializers, sparse initializers, tensors in node attributes (Constant and others), in subgraphs of
 * If/Loop/Scan, in local functions and in training graphs. Paths are resolved against `baseDir`
 * (normally the model file's folder) and may not leave it.
 */
export async function resolveExternalData(model: onnx.IModelProto, baseDir: string): Promise<void> {
  const pending: onnx.ITensorProto[] = [];
  forEachTensor(model, (t) => {
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) pending.push(t);
  });
  if (pending.length === 0) return;

  const root = path.resolve(baseDir);
  const handles = new Map<string, { fh: FileHandle; size: number }>();
  try {
    for (const t of pending) {
      const name = t.name || '(unnamed)';
      const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
      const location = entries.get('location') ?? '';
      if (location === '') {
        throw new CoreError(
          'model-external-data-missing',
          `Tensor '${name}' is stored in an external file but the model does not say which one. Export the model again with its external data.`,
        );
      }
      const filePath = safeExternalPath(root, location, name);
      const offset = parseExternalInt(entries.get('offset'), 'offset', name);
      const explicitLength = entries.has('length') ? parseExternalInt(entries.get('length'), 'length', name) : undefined;

      let entry = handles.get(filePath);
      if (!entry) {
        let fh: FileHandle;
        try {
          fh = await open(filePath, 'r');
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') {
            throw new CoreError(
              'model-external-data-missing',
              `Tensor '${name}' is stored in '${location}', which was not found at '${filePath}'. Put the external data file beside the model and import it again.`,
            );
          }
          throw e;
        }
        const size = (await fh.stat()).size;
        entry = { fh, size };
        handles.set(filePath, entry);
      }

      const expected = tensorStorageBytes(t);
      const length = explicitLength ?? (Number.isFinite(expected) ? expected : Math.max(0, entry.size - offset));
      if (offset + length > entry.size) {
        throw new CoreError(
          'model-external-data-missing',
          `Tensor '${name}' needs bytes ${offset} to ${offset + length} of '${location}', but that file has only ${entry.size} bytes. ` +
            'Copy the complete external data file beside the model and import it again.',
        );
      }
      const data = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await entry.fh.read(data, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      if (done < length) {
        throw new CoreError(
          'model-external-data-missing',
          `Tensor '${name}' could read only ${done} of ${length} bytes from '${location}'. Copy the complete external data file beside the model and import it again.`,
        );
      }
      t.rawData = data;
      t.externalData = [];
      t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
    }
  } finally {
    await Promise.all([...handles.values()].map((h) => h.fh.close()));
  }
}

function safeExternalPath(root: string, location: string, tensorName: string): string {
  const unsafe = (): CoreError =>
    new CoreError(
      'model-external-data-unsafe',
      `Tensor '${tensorName}' points to external data at '${location}', which is outside the model's folder. ` +
        'Only files beside the model (or in folders below it) are read: move the data file there and fix its location.',
    );
  if (location.includes('\0') || path.isAbsolute(location) || path.win32.isAbsolute(location)) throw unsafe();
  const resolved = path.resolve(root, location);
  const rel = path.relative(root, resolved);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw unsafe();
  if (location.split(/[\\/]/).includes('..')) throw unsafe();
  return resolved;
}

function parseExternalInt(value: string | undefined, what: string, tensorName: string): number {
  if (value === undefined || value === '') return 0;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw new CoreError(
      'model-external-data-missing',
      `Tensor '${tensorName}' has an invalid external data ${what} '${value}'. Export the model again with its external data.`,
    );
  }
  return n;
}

/** Visit every TensorProto reachable from a model, including inside subgraphs and functions. */
export function forEachTensor(model: onnx.IModelProto, visit: (t: onnx.ITensorProto) => void): void {
  const seenGraphs = new Set<onnx.IGraphProto>();
  const sparse = (s: onnx.ISparseTensorProto | null | undefined): void => {
    if (!s) return;
    if (s.values) visit(s.values);
    if (s.indices) visit(s.indices);
  };
  const attribute = (a: onnx.IAttributeProto): void => {
    if (a.t) visit(a.t);
    for (const t of a.tensors ?? []) visit(t);
    sparse(a.sparseTensor);
    for (const s of a.sparseTensors ?? []) sparse(s);
    if (a.g) graph(a.g);
    for (const g of a.graphs ?? []) graph(g);
  };
  const nodes = (list: onnx.INodeProto[] | null | undefined): void => {
    for (const n of list ?? []) for (const a of n.attribute ?? []) attribute(a);
  };
  const graph = (g: onnx.IGraphProto | null | undefined): void => {
    if (!g || seenGraphs.has(g)) return;
    seenGraphs.add(g);
    for (const t of g.initializer ?? []) visit(t);
    for (const s of g.sparseInitializer ?? []) sparse(s);
    nodes(g.node);
  };
  graph(model.graph);
  for (const f of model.functions ?? []) {
    nodes(f.node);
    for (const a of f.attributeProto ?? []) attribute(a);
  }
  for (const ti of model.trainingInfo ?? []) {
    graph(ti.initialization);
    graph(ti.algorithm);
  }
}

// ---------------------------------------------------------------------------------------------
// int64 helpers
// ---------------------------------------------------------------------------------------------

/** Anything an int64 field may hold: a number, a bigint, a `Long` (or a bare {low, high, unsigned}). */
export type Int64Input = number | bigint | LongLike | { toNumber(): number } | null | undefined;

/** An int64 field as a bigint (exact for every value, e.g. INT64_MAX in Slice ends). Absent → 0n. */
export function int64ToBigInt(v: Int64Input): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`Expected an integer int64 value, got ${v}.`);
    return BigInt(v);
  }
  if ('low' in v && 'high' in v) {
    const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
    return v.unsigned ? bits : BigInt.asIntN(64, bits);
  }
  const n = v.toNumber();
  if (!Number.isSafeInteger(n)) throw new Error(`int64 value ${n} is not a safe integer.`);
  return BigInt(n);
}

/** An int64 field as a number. Absent → 0. Throws a plain Error when the value is not a safe integer. */
export function int64ToNumber(v: Int64Input): number {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`int64 value ${v} is not a safe integer.`);
    return v;
  }
  const b = int64ToBigInt(v);
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new Error(`int64 value ${b} does not fit in a JavaScript number; read it with int64ToBigInt.`);
  }
  return Number(b);
}

function int64IsZero(v: Int64Input): boolean {
  return int64ToBigInt(v) === 0n;
}

// ---------------------------------------------------------------------------------------------
// Data types and tensor data
// ---------------------------------------------------------------------------------------------

/** The ONNX name of a TensorProto.DataType code, e.g. 1 → "FLOAT"; unknown codes → "UNKNOWN(99)". */
export function tensorDataTypeName(code: number | null | undefined): string {
  const c = code ?? 0;
  const name = (DataType as unknown as Record<number, string | undefined>)[c];
  return typeof name === 'string' ? name : `UNKNOWN(${c})`;
}

/**
 * Storage size of one element in bytes: fractional for packed sub-byte types (INT4/UINT4/FLOAT4E2M1 0.5,
 * INT2/UINT2 0.25); NaN for STRING, UNDEFINED and unknown codes. The table lives in elementTypes.ts.
 */
export function bytesPerElement(dataType: number | null | undefined): number {
  return elementBytes(dataType ?? 0);
}

/** Number of elements: the product of dims (1 for a scalar, whose dims are empty). */
export function tensorElementCount(t: onnx.ITensorProto): number {
  let n = 1;
  for (const d of t.dims ?? []) n *= int64ToNumber(d);
  return n;
}

/** Bytes the tensor's data takes in raw_data form (sub-byte types packed, rounded up); NaN for strings. */
export function tensorStorageBytes(t: onnx.ITensorProto): number {
  const bpe = bytesPerElement(t.dataType);
  return Number.isFinite(bpe) ? Math.ceil(tensorElementCount(t) * bpe) : NaN;
}

/** Decode an IEEE 754 half-precision bit pattern. */
export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const bf16Scratch = new DataView(new ArrayBuffer(4));
function bfloat16BitsToNumber(bits: number): number {
  bf16Scratch.setUint32(0, (bits & 0xffff) << 16 >>> 0);
  return bf16Scratch.getFloat32(0);
}

function requireInline(t: onnx.ITensorProto): void {
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw new Error(`Tensor '${t.name ?? ''}' still points to external data; call resolveExternalData first.`);
  }
}

function unsupported(t: onnx.ITensorProto, as: string): CoreError {
  return new CoreError(
    'tensor-dtype-unsupported',
    `Tensor '${t.name ?? ''}' has data type ${tensorDataTypeName(t.dataType)}, which cannot be read as ${as} yet. Use a model whose weights are stored in a standard numeric type.`,
  );
}

function malformed(t: onnx.ITensorProto, detail: string): CoreError {
  return new CoreError(
    'model-tensor-malformed',
    `Tensor '${t.name ?? ''}' is malformed (${detail}). Export the model again.`,
  );
}

function rawView(t: onnx.ITensorProto, count: number): DataView | undefined {
  const raw = t.rawData;
  if (!raw || raw.length === 0) return undefined;
  const need = Math.ceil(count * bytesPerElement(t.dataType));
  if (raw.length < need) throw malformed(t, `raw_data has ${raw.length} bytes, ${need} expected`);
  return new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
}

function checkCount(t: onnx.ITensorProto, have: number, count: number, field: string): void {
  if (have < count) throw malformed(t, `${field} has ${have} values, ${count} expected`);
}

/** Unpack 4-bit elements (two per byte, low nibble first) from raw_data or int32_data. */
function unpackInt4(t: onnx.ITensorProto, count: number, signed: boolean): Int8Array {
  const out = new Int8Array(count);
  const nBytes = Math.ceil(count / 2);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
  const words = t.int32Data ?? [];
  if (raw) {
    if (raw.length < nBytes) throw malformed(t, `raw_data has ${raw.length} bytes, ${nBytes} expected`);
  } else {
    checkCount(t, words.length, nBytes, 'int32_data');
  }
  for (let i = 0; i < count; i++) {
    const byte = raw ? raw[i >> 1] : words[i >> 1] & 0xff;
    const nib = (byte >> ((i & 1) * 4)) & 0x0f;
    out[i] = signed && nib >= 8 ? nib - 16 : nib;
  }
  return out;
}

/**
 * Tensor values as float32 (converting from FLOAT, FLOAT16, BFLOAT16, DOUBLE, the integer types, BOOL,
 * INT4 and UINT4), read from raw_data (little-endian) or the typed repeated field.
 */
export function tensorToFloat32(t: onnx.ITensorProto): Float32Array {
  requireInline(t);
  const n = tensorElementCount(t);
  const out = new Float32Array(n);
  const dv = rawView(t, n);
  const dt = t.dataType ?? 0;
  const i32 = t.int32Data ?? [];
  switch (dt) {
    case DataType.FLOAT:
      if (dv) for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      else {
        const src = t.floatData ?? [];
        checkCount(t, src.length, n, 'float_data');
        for (let i = 0; i < n; i++) out[i] = src[i];
      }
      return out;
    case DataType.DOUBLE:
      if (dv) for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      else {
        const src = t.doubleData ?? [];
        checkCount(t, src.length, n, 'double_data');
        for (let i = 0; i < n; i++) out[i] = src[i];
      }
      return out;
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      const conv = dt === DataType.FLOAT16 ? float16BitsToNumber : bfloat16BitsToNumber;
      if (dv) for (let i = 0; i < n; i++) out[i] = conv(dv.getUint16(i * 2, true));
      else {
        checkCount(t, i32.length, n, 'int32_data');
        for (let i = 0; i < n; i++) out[i] = conv(i32[i] & 0xffff);
      }
      return out;
    }
    case DataType.INT4:
    case DataType.UINT4: {
      const v = unpackInt4(t, n, dt === DataType.INT4);
      for (let i = 0; i < n; i++) out[i] = v[i];
      return out;
    }
    case DataType.INT64:
    case DataType.INT32:
    case DataType.INT16:
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.UINT16:
    case DataType.UINT32:
    case DataType.UINT64:
    case DataType.BOOL: {
      const ints = tensorToBigInt64Unchecked(t, n, dv);
      for (let i = 0; i < n; i++) out[i] = Number(ints[i]);
      return out;
    }
    default:
      throw unsupported(t, 'numbers');
  }
}

/**
 * Integer tensor values as a BigInt64Array, exact for every INT64 value (INT64, INT32, INT16, INT8, UINT8,
 * UINT16, UINT32, BOOL, INT4, UINT4; UINT64 values above INT64_MAX wrap to negative).
 */
export function tensorToBigInt64(t: onnx.ITensorProto): BigInt64Array {
  requireInline(t);
  const n = tensorElementCount(t);
  const dt = t.dataType ?? 0;
  if (dt === DataType.INT4 || dt === DataType.UINT4) {
    const v = unpackInt4(t, n, dt === DataType.INT4);
    return BigInt64Array.from(v, (x) => BigInt(x));
  }
  return tensorToBigInt64Unchecked(t, n, rawView(t, n));
}

/** Integer tensor values as numbers; throws a plain Error on a value that is not a safe integer (use tensorToBigInt64). */
export function tensorToInt64Numbers(t: onnx.ITensorProto): number[] {
  return Array.from(tensorToBigInt64(t), (b) => int64ToNumber(b));
}

function tensorToBigInt64Unchecked(t: onnx.ITensorProto, n: number, dv: DataView | undefined): BigInt64Array {
  const out = new BigInt64Array(n);
  const dt = t.dataType ?? 0;
  const i32 = t.int32Data ?? [];
  switch (dt) {
    case DataType.INT64:
      if (dv) for (let i = 0; i < n; i++) out[i] = dv.getBigInt64(i * 8, true);
      else {
        const src = t.int64Data ?? [];
        checkCount(t, src.length, n, 'int64_data');
        for (let i = 0; i < n; i++) out[i] = int64ToBigInt(src[i]);
      }
      return out;
    case DataType.UINT64:
    case DataType.UINT32:
      if (dv) {
        for (let i = 0; i < n; i++) {
          out[i] = dt === DataType.UINT64 ? dv.getBigInt64(i * 8, true) : BigInt(dv.getUint32(i * 4, true));
        }
      } else {
        const src = t.uint64Data ?? [];
        checkCount(t, src.length, n, 'uint64_data');
        for (let i = 0; i < n; i++) out[i] = BigInt.asIntN(64, int64ToBigInt(src[i]));
      }
      return out;
    case DataType.INT32:
    case DataType.INT16:
    case DataType.INT8:
    case DataType.UINT16:
    case DataType.UINT8:
    case DataType.BOOL: {
      if (dv) {
        for (let i = 0; i < n; i++) {
          let v: number;
          if (dt === DataType.INT32) v = dv.getInt32(i * 4, true);
          else if (dt === DataType.INT16) v = dv.getInt16(i * 2, true);
          else if (dt === DataType.UINT16) v = dv.getUint16(i * 2, true);
          else if (dt === DataType.INT8) v = dv.getInt8(i);
          else v = dv.getUint8(i);
          out[i] = BigInt(v);
        }
      } else {
        checkCount(t, i32.length, n, 'int32_data');
        for (let i = 0; i < n; i++) out[i] = BigInt(i32[i]);
      }
      return out;
    }
    default:
      throw unsupported(t, 'integers');
  }
}
