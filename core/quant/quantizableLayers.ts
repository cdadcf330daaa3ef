import { CoreError } from '../api/errors.js';
import type { ModelGraph } from '../onnx/graph.js';
import type { onnx } from '../onnx/generated/onnxProto.js';
import { int64ToNumber } from '../onnx/modelCodec.js';

/**
 * A layer whose weight can be quantized, with the axes the quantizers need: per-output-channel scales run along
 * `channelAxis`; blocks (for MatMulNBits-style grouping) run along `reductionAxis`, the axis summed over.
 */
export interface QuantizableLayer {
  position: number;
  name: string;
  opType: 'Conv' | 'ConvTranspose' | 'Gemm' | 'MatMul';
  /** Name of the weight tensor and which node input it is. */
  weight: string;
  weightInput: number;
  weightDims: number[];
  weightElements: number;
  channelAxis: number;
  reductionAxis: number;
  /** The activation input (the tensor the weight multiplies). */
  activation: string;
  /** Optional bias weight (Conv/Gemm input 2). */
  bias?: string;
}

function attrI(node: onnx.INodeProto, name: string, dflt: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? int64ToNumber(a.i) : dflt;
}

/** Every Conv / ConvTranspose / Gemm / MatMul whose weight operand is a constant, in topological order. */
export function quantizableLayers(model: onnx.IModelProto, graph: ModelGraph): QuantizableLayer[] {
  const nodes = model.graph?.node ?? [];
  const out: QuantizableLayer[] = [];
  for (const l of graph.layers) {
    const node = nodes[l.nodeIndex];
    const w = l.inputs[1];
    const info = w ? graph.weights.get(w) : undefined;
    if (!info || info.dataType !== 1 || !l.inputs[0] || graph.weights.has(l.inputs[0])) continue;
    const dims = info.dims;
    let channelAxis: number;
    let reductionAxis: number;
    switch (l.opType) {
      case 'Conv':
        // W [Cout, Cin/group, k…]
        [channelAxis, reductionAxis] = [0, 1];
        break;
      case 'ConvTranspose':
        // W [Cin, Cout/group, k…]
        [channelAxis, reductionAxis] = [1, 0];
        break;
      case 'Gemm':
        if (dims.length !== 2 || attrI(node, 'transA', 0) !== 0) continue;
        // B is [K, N], or [N, K] with transB.
        [channelAxis, reductionAxis] = attrI(node, 'transB', 0) ? [0, 1] : [1, 0];
        break;
      case 'MatMul':
        if (dims.length !== 2) continue;
        [channelAxis, reductionAxis] = [1, 0];
        break;
      default:
        continue;
    }
    const bias = ['Conv', 'ConvTranspose', 'Gemm'].includes(l.opType) && l.inputs[2] && graph.weights.has(l.inputs[2]) ? l.inputs[2] : undefined;
    out.push({
      position: l.position,
      name: l.name,
      opType: l.opType as QuantizableLayer['opType'],
      weight: w,
      weightInput: 1,
      weightDims: dims,
      weightElements: info.elementCount,
      channelAxis,
      reductionAxis,
      activation: l.inputs[0],
      bias,
    });
  }
  return out;
}

/**
 * The tensor whose calibrated range quantizes a layer's output. When the layer's only reader is a Relu, that is the
 * Relu's output: uint8 with zero point 0 then clips negatives exactly as the Relu would, so no resolution is spent
 * on values the Relu throws away (and ONNX Runtime folds the Relu into the integer kernel).
 */
export function outputRangeTensor(graph: ModelGraph, layer: QuantizableLayer): string {
  const y = graph.layers[layer.position - 1].outputs[0];
  const t = graph.tensors.get(y);
  if (t && !t.isGraphOutput && t.consumers.length === 1) {
    const next = graph.layers[t.consumers[0] - 1];
    if (next.opType === 'Relu') return next.outputs[0];
  }
  return y;
}

/** The largest block size (a power of two >= 16, as MatMulNBits requires) that divides K, or the wanted one checked. */
export function blockSizeFor(k: number, wanted?: number): number {
  if (wanted !== undefined) {
    if (!(wanted >= 16 && (wanted & (wanted - 1)) === 0) || k % wanted !== 0) {
      throw new CoreError('quant-block-size-invalid', `Block size ${wanted} must be a power of two >= 16 that divides K = ${k}. Try ${blockSizeFor(k)}.`);
    }
    return wanted;
  }
  for (const bs of [128, 64, 32, 16]) if (k % bs === 0) return bs;
  throw new CoreError('quant-block-size-invalid', `K = ${k} is not a multiple of 16, so MatMulNBits cannot block it. Keep this layer at 8 bit or FP32.`);
}

