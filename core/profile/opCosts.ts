import type { onnx } from '../onnx/generated/onnxProto.js';
import { int64ToNumber } from '../onnx/modelCodec.js';

/**
 * Arithmetic cost of one node from its tensor shapes.
 *
 * MACs count multiply-accumulates of the dense linear ops (Conv, ConvTranspose, Gemm, MatMul, Einsum-free);
 * FLOPs count every arithmetic operation (a MAC is 2 FLOPs). Ops that only move data report 0 with model
 * 'data-movement'; an op we have no formula for reports null with model 'none' — never a silent zero.
 */
export type CostModel = 'linear' | 'elementwise' | 'pool' | 'normalization' | 'reduction' | 'resize' | 'softmax' | 'data-movement' | 'none';

export interface OpCost {
  macs: number | null;
  flops: number | null;
  model: CostModel;
}

/** Returns the dims of a tensor by name, or undefined when unknown. */
export type ShapeOf = (tensor: string) => number[] | undefined;

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);

/** FLOPs per output element for element-wise ops (transcendentals counted as one op, as profilers do). */
const ELEMENTWISE: Record<string, number> = {
  Add: 1, Sub: 1, Mul: 1, Div: 1, Pow: 1, Sqrt: 1, Reciprocal: 1, Neg: 1, Abs: 1, Exp: 1, Log: 1, Erf: 1, Tanh: 1,
  Sigmoid: 1, Relu: 1, LeakyRelu: 1, PRelu: 1, Elu: 1, Selu: 1, Celu: 1, Clip: 1, Min: 1, Max: 1, Mean: 1, Sum: 1,
  HardSigmoid: 2, HardSwish: 3, Swish: 2, Mish: 3, Gelu: 4, Softplus: 2, Softsign: 2, Floor: 1, Ceil: 1, Round: 1,
  Sign: 1, Sin: 1, Cos: 1, Tan: 1, Atan: 1, Equal: 1, Greater: 1, Less: 1, GreaterOrEqual: 1, LessOrEqual: 1,
  Not: 1, And: 1, Or: 1, Xor: 1, Where: 1, Mod: 1, ThresholdedRelu: 1, Dropout: 0, IsNaN: 1, IsInf: 1, BitShift: 1,
  QuantizeLinear: 2, DequantizeLinear: 2, Cast: 0, CastLike: 0, CumSum: 1,
};

const DATA_MOVEMENT = new Set([
  'Reshape', 'Transpose', 'Concat', 'Slice', 'Gather', 'GatherElements', 'GatherND', 'Squeeze', 'Unsqueeze',
  'Flatten', 'Identity', 'Shape', 'Size', 'Split', 'Pad', 'Expand', 'Tile', 'ConstantOfShape', 'Range',
  'DepthToSpace', 'SpaceToDepth', 'ScatterND', 'ScatterElements', 'NonZero', 'OneHot', 'EyeLike', 'Trilu',
  'ReverseSequence', 'Compress', 'Optional', 'OptionalGetElement', 'OptionalHasElement', 'SequenceConstruct',
]);

/** Per-element FLOPs of normalisations: mean, variance, normalise, scale, shift. */
const NORMALIZATION: Record<string, number> = {
  BatchNormalization: 2, // folded to a scale and a shift at inference
  InstanceNormalization: 5,
  LayerNormalization: 5,
  GroupNormalization: 5,
  RMSNormalization: 4,
  LpNormalization: 3,
  MeanVarianceNormalization: 5,
  LRN: 4,
};

const REDUCTIONS = new Set([
  'ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceSumSquare',
  'ReduceLogSum', 'ReduceLogSumExp', 'ArgMax', 'ArgMin', 'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool', 'TopK',
]);

function attr(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}
function attrInts(node: onnx.INodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a?.ints && a.ints.length > 0 ? a.ints.map((v) => int64ToNumber(v)) : undefined;
}
function attrInt(node: onnx.INodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && a.i !== undefined && a.i !== null ? int64ToNumber(a.i) : dflt;
}
function attrString(node: onnx.INodeProto, name: string, dflt: string): string {
  const s = attr(node, name)?.s;
  return s && s.length > 0 ? new TextDecoder().decode(s) : dflt;
}

export function opCost(node: onnx.INodeProto, shapeOf: ShapeOf): OpCost {
  const op = node.opType ?? '';
  const ins = (node.input ?? []).map((n) => (n ? shapeOf(n) : undefined));
  const outs = (node.output ?? []).map((n) => (n ? shapeOf(n) : undefined));
  const out0 = outs[0];
  const outElems = out0 ? prod(out0) : null;
  const none: OpCost = { macs: null, flops: null, model: 'none' };

  switch (op) {
    case 'Conv':
    case 'ConvInteger':
    case 'QLinearConv': {
      const w = op === 'QLinearConv' ? ins[3] : ins[1];
      if (!w || !out0) return none;
      // Output [N, Cout, *spatial]; weight [Cout, Cin/group, *kernel]: each output element sums Cin/group * kernel
      // products. The weight's second dim already is Cin/group, so grouped and depthwise convs need no extra term.
      const macs = outElems! * prod(w.slice(1));
      const bias = op === 'Conv' && node.input?.[2] ? outElems! : 0;
      return { macs, flops: 2 * macs + bias, model: 'linear' };
    }
    case 'ConvTranspose': {
      const x = ins[0];
      const w = ins[1];
      if (!x || !w || !out0) return none;
      // Every input element scatters into Cout/group * kernel outputs: weight [Cin, Cout/group, *kernel].
      const macs = prod(x) * prod(w.slice(1));
      const bias = node.input?.[2] ? outElems! : 0;
      return { macs, flops: 2 * macs + bias, model: 'linear' };
    }
    case 'Gemm': {
      const a = ins[0];
      if (!a || !out0) return none;
      const transA = attrInt(node, 'transA', 0);
      const k = transA ? a[0] : a[a.length - 1];
      const macs = outElems! * k;
      const hasC = Boolean(node.input?.[2]);
      // alpha*A*B + beta*C: the MACs, then one scale and one add per output when C is present.
      return { macs, flops: 2 * macs + (hasC ? 2 * outElems! : 0), model: 'linear' };
    }
    case 'MatMul':
    case 'MatMulInteger':
    case 'QLinearMatMul':
    case 'MatMulNBits': {
      const a = ins[0];
      if (!a || !out0) return none;
      const macs = outElems! * a[a.length - 1];
      return { macs, flops: 2 * macs, model: 'linear' };
    }
    case 'MaxPool':
    case 'AveragePool':
    case 'LpPool': {
      if (!out0) return none;
      const k = attrInts(node, 'kernel_shape');
      if (!k) return none;
      return { macs: 0, flops: outElems! * prod(k), model: 'pool' };
    }
    case 'Softmax':
    case 'LogSoftmax':
    case 'Hardmax': {
      if (!out0) return none;
      // max, subtract, exp, sum, divide per element.
      return { macs: 0, flops: 5 * outElems!, model: 'softmax' };
    }
    case 'Resize':
    case 'Upsample': {
      if (!out0) return none;
      const mode = attrString(node, 'mode', 'nearest');
      const spatial = Math.max(out0.length - 2, 1);
      // nearest copies; (bi/tri)linear blends 2^d neighbours; cubic 4^d (each a multiply-add).
      const taps = mode === 'nearest' ? 0 : mode === 'cubic' ? 4 ** spatial : 2 ** spatial;
      return { macs: 0, flops: 2 * taps * outElems!, model: taps === 0 ? 'data-movement' : 'resize' };
    }
    default:
      break;
  }
  if (op in NORMALIZATION) {
    if (!out0) return none;
    return { macs: 0, flops: NORMALIZATION[op] * outElems!, model: 'normalization' };
  }
  if (REDUCTIONS.has(op)) {
    const x = ins[0];
    if (!x) return none;
    return { macs: 0, flops: prod(x), model: 'reduction' };
  }
  if (op in ELEMENTWISE) {
    if (!out0) return none;
    // Variadic element-wise ops (Sum, Max, Mean…) do one op per extra input.
    const arity = Math.max((node.input ?? []).filter(Boolean).length - 1, 1);
    return { macs: 0, flops: ELEMENTWISE[op] * outElems! * (['Sum', 'Max', 'Min', 'Mean'].includes(op) ? arity : 1), model: 'elementwise' };
  }
  if (DATA_MOVEMENT.has(op)) return { macs: 0, flops: 0, model: 'data-movement' };
  return none;
}
