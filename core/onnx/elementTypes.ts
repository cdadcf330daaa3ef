/**
 * ONNX element types: the TensorProto.DataType code, the name ORT and numpy use, and the storage size.
 * Sub-byte types (int4, uint4, float4) take half a byte per element when packed.
 */
interface ElementType {
  code: number;
  name: string;
  bytes: number;
}

const TYPES: readonly ElementType[] = [
  { code: 1, name: 'float32', bytes: 4 },
  { code: 2, name: 'uint8', bytes: 1 },
  { code: 3, name: 'int8', bytes: 1 },
  { code: 4, name: 'uint16', bytes: 2 },
  { code: 5, name: 'int16', bytes: 2 },
  { code: 6, name: 'int32', bytes: 4 },
  { code: 7, name: 'int64', bytes: 8 },
  { code: 8, name: 'string', bytes: Number.NaN },
  { code: 9, name: 'bool', bytes: 1 },
  { code: 10, name: 'float16', bytes: 2 },
  { code: 11, name: 'float64', bytes: 8 },
  { code: 12, name: 'uint32', bytes: 4 },
  { code: 13, name: 'uint64', bytes: 8 },
  { code: 14, name: 'complex64', bytes: 8 },
  { code: 15, name: 'complex128', bytes: 16 },
  { code: 16, name: 'bfloat16', bytes: 2 },
  { code: 17, name: 'float8e4m3fn', bytes: 1 },
  { code: 18, name: 'float8e4m3fnuz', bytes: 1 },
  { code: 19, name: 'float8e5m2', bytes: 1 },
  { code: 20, name: 'float8e5m2fnuz', bytes: 1 },
  { code: 21, name: 'uint4', bytes: 0.5 },
  { code: 22, name: 'int4', bytes: 0.5 },
  { code: 23, name: 'float4e2m1', bytes: 0.5 },
  { code: 24, name: 'float8e8m0', bytes: 1 },
  { code: 25, name: 'uint2', bytes: 0.25 },
  { code: 26, name: 'int2', bytes: 0.25 },
];

const BY_CODE = new Map(TYPES.map((t) => [t.code, t]));
const BY_NAME = new Map(TYPES.map((t) => [t.name, t]));

/** 'float32', 'int4', …; unknown codes read 'type<N>'. */
export function elementTypeName(code: number): string {
  return BY_CODE.get(code)?.name ?? `type${code}`;
}

export function elementTypeCode(name: string): number | undefined {
  return BY_NAME.get(name)?.code;
}

/** Bytes per element by code (0.5 for 4-bit types, NaN for strings and unknown codes). */
export function bytesPerElement(code: number): number {
  return BY_CODE.get(code)?.bytes ?? Number.NaN;
}

/** Bytes per element by name, as ORT reports tensor types. */
export function bytesPerElementOf(name: string): number {
  return BY_NAME.get(name)?.bytes ?? Number.NaN;
}
