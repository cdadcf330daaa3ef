import { onnx } from './generated/onnxProto.js';

/**
 * TensorProto builders for the writers. Data goes into raw_data (little-endian), which is what exporters write
 * and what keeps the files compact; the bytes are copied so callers may reuse their arrays.
 */
const T = onnx.TensorProto.DataType;

function raw(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

export function floatTensor(name: string, dims: readonly number[], data: Float32Array): onnx.ITensorProto {
  return { name, dims: [...dims], dataType: T.FLOAT, rawData: raw(data) };
}

export function int8Tensor(name: string, dims: readonly number[], data: ArrayLike<number>): onnx.ITensorProto {
  return { name, dims: [...dims], dataType: T.INT8, rawData: raw(Int8Array.from(data)) };
}

export function uint8Tensor(name: string, dims: readonly number[], data: ArrayLike<number>): onnx.ITensorProto {
  return { name, dims: [...dims], dataType: T.UINT8, rawData: raw(Uint8Array.from(data)) };
}

export function int32Tensor(name: string, dims: readonly number[], data: ArrayLike<number>): onnx.ITensorProto {
  return { name, dims: [...dims], dataType: T.INT32, rawData: raw(Int32Array.from(data)) };
}

export function int64Tensor(name: string, dims: readonly number[], data: readonly number[]): onnx.ITensorProto {
  return { name, dims: [...dims], dataType: T.INT64, rawData: raw(BigInt64Array.from(data.map((v) => BigInt(v)))) };
}

/** 4-bit tensor (int4 or uint4, opset 21): two elements per byte, the first in the low nibble. */
export function nibbleTensor(name: string, dims: readonly number[], codes: ArrayLike<number>, signed: boolean): onnx.ITensorProto {
  const out = new Uint8Array(Math.ceil(codes.length / 2));
  for (let i = 0; i < codes.length; i++) out[i >> 1] |= (codes[i] & 0x0f) << ((i & 1) * 4);
  return { name, dims: [...dims], dataType: signed ? T.INT4 : T.UINT4, rawData: out };
}

export function scalarFloat(name: string, v: number): onnx.ITensorProto {
  return floatTensor(name, [], Float32Array.of(v));
}

export function attrInt(name: string, i: number): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

export function attrFloat(name: string, f: number): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f };
}
