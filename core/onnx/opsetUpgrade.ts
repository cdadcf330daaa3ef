import { CoreError } from '../api/errors.js';
import { int64ToBigInt, int64ToNumber, onnx, tensorToBigInt64, tensorToFloat32 } from './modelCodec.js';

/**
 * Raising a model's default-domain opset (e.g. PP-OCR's opset 9/11 to 13 for per-channel DequantizeLinear, or to
 * 21 for int4) while keeping what it computes bit for bit.
 *
 * Every operator's version history (the opsets at which it got a new schema) is tabled below from ONNX's
 * operator_sets.h. For each node, each version bump between the model's opset and the target is either
 * - compatible (only new types, or new attributes/inputs whose defaults keep the old behaviour: the bumps ONNX's
 *   own version converter registers as CompatibleAdapter),
 * - rewritten here (attributes that became inputs, Softmax's 2-D coercion, Upsample → Resize, …), or
 * - refused with CoreError 'model-opset-upgrade' (semantics changed in a way we do not rewrite).
 * Subgraphs of If/Loop/Scan are upgraded recursively. The input model is never mutated.
 */

const T = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;

export const MIN_UPGRADE_TARGET = 13;
export const MAX_UPGRADE_TARGET = 21;

/** The lowest IR version each opset needs (ONNX's versioning table). */
function irVersionFor(opset: number): number {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  return 7;
}

// ---------------------------------------------------------------------------------------------
// Operator version history (ai.onnx, opsets 1..21)
// ---------------------------------------------------------------------------------------------

/** Operators that got a new schema at each opset (onnx/defs/operator_sets.h). */
const SCHEMAS_BY_OPSET: Record<number, string> = {
  1: `Abs Add And ArgMax ArgMin AveragePool BatchNormalization Cast Ceil Clip Concat Constant Conv ConvTranspose
    DepthToSpace Div Dropout Elu Equal Exp Flatten Floor GRU Gather Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool
    Greater HardSigmoid Hardmax Identity If InstanceNormalization LRN LSTM LeakyRelu Less Log LogSoftmax Loop
    LpNormalization LpPool MatMul Max MaxPool MaxRoiPool Mean Min Mul Neg Not Or PRelu Pad Pow RNN RandomNormal
    RandomNormalLike RandomUniform RandomUniformLike Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax
    ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Selu Shape Sigmoid Size Slice Softmax
    Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tanh Tile TopK Transpose Unsqueeze Upsample Xor`,
  2: 'GlobalLpPool LpPool Pad Split',
  3: 'GRU',
  4: 'Concat',
  5: 'Reshape',
  6: `Abs Add BatchNormalization Cast Ceil Clip Div Dropout Elu Exp Floor Gemm HardSigmoid InstanceNormalization
    LeakyRelu Log Max Mean Min Mul Neg PRelu Reciprocal Relu Selu Sigmoid Sqrt Sub Sum Tanh Tile`,
  7: `Acos Add And Asin Atan AveragePool BatchNormalization Cos Div Dropout Equal Gemm Greater GRU Less LSTM Mul Or Pow
    RNN Sin Sub Tan Upsample Multinomial Xor PRelu`,
  8: 'Expand Max Min Sum Mean MaxPool Scan',
  9: `BatchNormalization Compress ConstantOfShape EyeLike Greater Less Upsample MaxUnpool Constant MatMul OneHot PRelu
    Gemm Flatten Sinh Cosh Asinh Acosh Atanh Shrink IsNaN Sign Scan Erf Scatter Where Cast NonZero TfIdfVectorizer
    MeanVarianceNormalization`,
  10: `StringNormalizer Upsample Resize TopK MaxPool Mod AveragePool Slice ThresholdedRelu Dropout MatMulInteger
    QLinearMatMul ConvInteger QLinearConv QuantizeLinear DequantizeLinear IsInf NonMaxSuppression ReverseSequence
    RoiAlign`,
  11: `Loop CumSum Round BitShift Unique TopK DepthToSpace Equal Constant DynamicQuantizeLinear GatherElements
    ScatterElements Scatter Clip Resize Range Det ScatterND GatherND Gather OneHot Slice Squeeze Unsqueeze Flatten
    ArgMax ArgMin ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum
    ReduceSumSquare Compress Concat Hardmax LogSoftmax Softmax Scan Split AveragePool MaxPool MaxUnpool LpPool Conv
    ConvTranspose SequenceEmpty SequenceConstruct SequenceInsert SequenceAt SequenceErase SequenceLength
    SplitToSequence ConcatFromSequence Pad Gemm If NonMaxSuppression`,
  12: `ArgMax ArgMin Clip Einsum MaxPool ReduceMax ReduceMin GatherND NegativeLogLikelihoodLoss Dropout Constant Celu
    Max Min LessOrEqual GreaterOrEqual SoftmaxCrossEntropyLoss Pow`,
  13: `Constant Greater Less Equal Add Sub Mul Div Softmax LogSoftmax Hardmax Mod Neg Abs Reciprocal Floor Ceil Sqrt
    Relu Exp Log Tanh Pow Sigmoid Max Min Sum Mean Clip Gemm MatMul Expand Sign Erf SoftmaxCrossEntropyLoss
    NegativeLogLikelihoodLoss Dropout Flatten LRN MeanVarianceNormalization ReduceMax ReduceMin ReduceSum
    ReduceSumSquare ReduceMean ReduceProd ReduceLogSum ReduceLogSumExp ReduceL1 ReduceL2 ArgMax ArgMin Cast Reshape
    Shape Size Concat Split Slice Transpose ScatterND ScatterElements Gather GatherElements Squeeze Unsqueeze
    SpaceToDepth DepthToSpace Tile Resize Identity IsNaN NonZero GatherND Pad QuantizeLinear DequantizeLinear Loop If`,
  14: 'CumSum Relu Reshape GRU LSTM RNN Trilu BatchNormalization HardSwish Add Sub Mul Div Identity',
  15: 'BatchNormalization Bernoulli Pow Optional OptionalHasElement OptionalGetElement CastLike Shape',
  16: `RoiAlign ScatterND ScatterElements If Loop Identity Where GridSample Scan LessOrEqual GreaterOrEqual LeakyRelu
    PRelu`,
  17: 'LayerNormalization SequenceMap DFT HannWindow HammingWindow BlackmanWindow MelWeightMatrix STFT',
  18: `Pad CenterCropPad Resize Mish OptionalGetElement OptionalHasElement Split Col2Im ScatterND ScatterElements
    ReduceSumSquare ReduceLogSum ReduceLogSumExp ReduceL1 ReduceL2 ReduceMax ReduceMin ReduceMean ReduceProd BitwiseAnd
    BitwiseOr BitwiseXor BitwiseNot GroupNormalization LpPool`,
  19: `Equal AveragePool Cast CastLike Constant DeformConv DequantizeLinear Identity If Loop Pad QuantizeLinear Resize
    Reshape Scan Shape Size`,
  20: `AffineGrid ConstantOfShape DFT Gelu GridSample ImageDecoder IsInf IsNaN ReduceMax ReduceMin RegexFullMatch
    StringConcat StringSplit`,
  21: `Cast CastLike Constant ConstantOfShape DequantizeLinear Flatten GroupNormalization Identity If Loop Pad
    QLinearMatMul QuantizeLinear Reshape Scan Shape Size Squeeze Transpose Unsqueeze`,
};

/** op → ascending list of the opsets at which it got a schema. */
const SCHEMA_VERSIONS: ReadonlyMap<string, readonly number[]> = (() => {
  const m = new Map<string, number[]>();
  for (const [v, ops] of Object.entries(SCHEMAS_BY_OPSET)) {
    for (const op of ops.split(/\s+/).filter(Boolean)) {
      const list = m.get(op) ?? [];
      list.push(Number(v));
      m.set(op, list);
    }
  }
  for (const list of m.values()) list.sort((a, b) => a - b);
  return m;
})();

const REDUCE_OPS = [
  'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd',
  'ReduceSumSquare',
];

/**
 * Version bumps whose signature or semantics changed: the node is rewritten by REWRITERS[op] (which may still
 * refuse a case it cannot keep exact). Every other bump in SCHEMA_VERSIONS only adds types, or attributes/inputs
 * whose defaults keep the old behaviour, except those in REFUSED_BUMPS.
 */
const REWRITE_BUMPS: Readonly<Record<string, readonly number[]>> = {
  BatchNormalization: [9, 14],
  Clip: [11],
  Dropout: [10, 12],
  Hardmax: [13],
  LogSoftmax: [13],
  Softmax: [13],
  Pad: [11],
  Resize: [11, 13],
  RoiAlign: [16],
  Scatter: [11],
  Slice: [10],
  Split: [13, 18],
  Squeeze: [13],
  Unsqueeze: [13],
  TopK: [10],
  Upsample: [9, 10],
  ReduceSum: [13],
  ...Object.fromEntries(REDUCE_OPS.map((op) => [op, [18]])),
};

/** Version bumps that change inference semantics in ways this module does not rewrite. */
const REFUSED_BUMPS: Readonly<Record<string, ReadonlyArray<readonly [number, string]>>> = {
  Scan: [[9, 'Scan 9 dropped the batch axis and the sequence_lens input of Scan 8']],
  GroupNormalization: [[21, 'GroupNormalization 21 takes per-channel scale and bias instead of per-group']],
  DFT: [[20, 'DFT 20 moved the axis attribute to an input with a different default']],
  GridSample: [[20, "GridSample 20 renamed the 'bilinear' and 'bicubic' modes"]],
};

/** Deprecated operators that must be replaced whatever the source opset (ONNX Runtime rejects them at 13+). */
const ALWAYS_REWRITE = new Set(['Upsample', 'Scatter']);

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

/**
 * A new model whose default-domain opset import is `target` (13..21) and that computes exactly what `model` does.
 * Returns `model` itself when its opset is already `target` or newer. Throws CoreError 'model-opset-upgrade' for
 * an op whose upgrade is not known to preserve semantics.
 */
export function upgradeOpset(model: onnx.IModelProto, target: number): onnx.IModelProto {
  if (!Number.isInteger(target) || target < MIN_UPGRADE_TARGET || target > MAX_UPGRADE_TARGET) {
    throw new CoreError(
      'model-opset-upgrade',
      `Target opset ${target} is not supported for upgrades. Choose an opset from ${MIN_UPGRADE_TARGET} to ${MAX_UPGRADE_TARGET}.`,
    );
  }
  const imports = model.opsetImport ?? [];
  const isDefault = (d: string | null | undefined): boolean => (d ?? '') === '' || d === 'ai.onnx';
  const defaults = imports.filter((o) => isDefault(o.domain));
  const source = defaults.length > 0 ? Math.max(...defaults.map((o) => int64ToNumber(o.version))) : undefined;
  if (source !== undefined && source >= target) return model;
  if (!model.graph) {
    throw new CoreError('model-opset-upgrade', 'The model has no graph, so its opset cannot be upgraded. Export the model again with its graph.');
  }
  if (source !== undefined && source < 7) {
    throw new CoreError(
      'model-opset-upgrade',
      `Cannot upgrade a model from opset ${source} to ${target} automatically: opsets before 7 used different broadcasting rules. Export the model at opset ${target} or newer.`,
    );
  }
  for (const f of model.functions ?? []) {
    if ((f.opsetImport ?? []).some((o) => isDefault(o.domain))) {
      throw new CoreError(
        'model-opset-upgrade',
        `Cannot upgrade model-local function '${f.name ?? ''}' from opset ${source ?? '(none)'} to ${target} automatically. Export the model at opset ${target} or newer.`,
      );
    }
  }

  const up = new Upgrader(model, source ?? target, target);
  const graph = source === undefined ? model.graph : up.graph(model.graph, undefined);

  const opsetImport: onnx.IOperatorSetIdProto[] = imports.map((o) => (isDefault(o.domain) ? { ...o, version: target } : o));
  if (defaults.length === 0) opsetImport.push({ domain: '', version: target });
  const ir = Math.max(int64ToNumber(model.irVersion ?? 0), irVersionFor(target));
  return { ...model, irVersion: ir, opsetImport, graph };
}

// ---------------------------------------------------------------------------------------------
// Scopes: constants and what is known of each tensor (element type, rank) at the source opset
// ---------------------------------------------------------------------------------------------

interface TensorFacts {
  elemType?: number;
  rank?: number;
}

class Scope {
  readonly constants = new Map<string, onnx.ITensorProto>();
  readonly facts = new Map<string, TensorFacts>();
  constructor(readonly parent: Scope | undefined) {}

  constant(name: string): onnx.ITensorProto | undefined {
    return this.constants.get(name) ?? this.parent?.constant(name);
  }

  fact(name: string): TensorFacts {
    return this.facts.get(name) ?? this.parent?.fact(name) ?? {};
  }

  learn(name: string, f: TensorFacts): void {
    if (!name) return;
    const old = this.facts.get(name) ?? {};
    this.facts.set(name, { elemType: old.elemType ?? f.elemType, rank: old.rank ?? f.rank });
  }
}

/** The value of a Constant node as a tensor (value, value_float(s), value_int(s)); undefined for other forms. */
function constantNodeValue(n: onnx.INodeProto): onnx.ITensorProto | undefined {
  for (const a of n.attribute ?? []) {
    switch (a.name) {
      case 'value':
        return a.t ?? undefined;
      case 'value_float':
        return { dims: [], dataType: T.FLOAT, floatData: [a.f ?? 0] };
      case 'value_floats':
        return { dims: [a.floats?.length ?? 0], dataType: T.FLOAT, floatData: [...(a.floats ?? [])] };
      case 'value_int':
        return { dims: [], dataType: T.INT64, int64Data: [a.i ?? 0] };
      case 'value_ints':
        return { dims: [a.ints?.length ?? 0], dataType: T.INT64, int64Data: [...(a.ints ?? [])] };
      default:
        break;
    }
  }
  return undefined;
}

function typeFacts(t: onnx.ITypeProto | null | undefined): TensorFacts {
  const tt = t?.tensorType;
  if (!tt) return {};
  return { elemType: tt.elemType || undefined, rank: tt.shape ? (tt.shape.dim ?? []).length : undefined };
}

function elementCount(t: onnx.ITensorProto): number {
  return (t.dims ?? []).reduce<number>((p, d) => p * int64ToNumber(d), 1);
}

const SAME_RANK_OPS = new Set(
  `Abs Acos Acosh Asin Asinh Atan Atanh AveragePool BatchNormalization Cast CastLike Ceil Celu Clip Conv ConvTranspose
  Cos Cosh CumSum DepthToSpace DequantizeLinear Dropout Elu Erf Exp Floor Gelu GlobalAveragePool GlobalLpPool
  GlobalMaxPool HardSigmoid HardSwish Hardmax Identity InstanceNormalization IsInf IsNaN LRN LayerNormalization
  LeakyRelu Log LogSoftmax LpNormalization LpPool MaxPool MeanVarianceNormalization Mish Neg Not PRelu Pad
  QuantizeLinear Reciprocal Relu Resize Round Scatter ScatterElements ScatterND Selu Shrink Sigmoid Sign Sin Sinh
  Softmax Softplus Softsign SpaceToDepth Split Sqrt Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu Upsample
  GroupNormalization Concat Slice`.split(/\s+/),
);
const BROADCAST_OPS = new Set(
  'Add Sub Mul Div Pow Mod Max Min Sum Mean Equal Greater Less GreaterOrEqual LessOrEqual And Or Xor Where BitShift'.split(' '),
);
const BOOL_OPS = new Set('Equal Greater Less GreaterOrEqual LessOrEqual Not And Or Xor IsNaN IsInf'.split(' '));
const INT64_OPS = new Set('Shape Size NonZero ArgMax ArgMin'.split(' '));
/** Ops whose (first) output has the element type of their first input. */
const SAME_TYPE_OPS = new Set([
  ...SAME_RANK_OPS,
  ...'Add Sub Mul Div Pow Mod Max Min Sum Mean BitShift Reshape Squeeze Unsqueeze Flatten Gather GatherElements GatherND Expand MatMul Gemm Range Compress ReverseSequence MaxUnpool'.split(' '),
  ...REDUCE_OPS,
  'ReduceSum',
]);
SAME_TYPE_OPS.delete('Cast');
SAME_TYPE_OPS.delete('CastLike');
SAME_TYPE_OPS.delete('DequantizeLinear');
SAME_TYPE_OPS.delete('QuantizeLinear');
for (const op of BOOL_OPS) SAME_TYPE_OPS.delete(op);

// ---------------------------------------------------------------------------------------------
// The upgrader
// ---------------------------------------------------------------------------------------------

type Rewriter = (n: onnx.INodeProto, cx: NodeContext) => onnx.INodeProto[];

interface NodeContext {
  readonly source: number;
  readonly target: number;
  /** The op's schema version the node was written against. */
  readonly version: number;
  crosses(v: number): boolean;
  fresh(base: string): string;
  /** A new 1-D initializer with a fresh name derived from `base`. */
  int64Init(base: string, values: ReadonlyArray<bigint | number>): string;
  floatInit(base: string, values: readonly number[]): string;
  /** A scalar initializer of the given element type; undefined when that type is not supported here. */
  scalarInit(base: string, value: number, elemType: number | undefined): string | undefined;
  facts(name: string): TensorFacts;
  constant(name: string): onnx.ITensorProto | undefined;
  isUsed(name: string): boolean;
  fail(reason: string): never;
  /** Record a tensor name that no longer exists (its value_info is dropped). */
  removed(name: string): void;
}

class Upgrader {
  private readonly names = new Set<string>();
  private readonly used = new Set<string>();

  constructor(model: onnx.IModelProto, readonly source: number, readonly target: number) {
    const visit = (g: onnx.IGraphProto): void => {
      for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) this.names.add(v.name ?? '');
      for (const t of g.initializer ?? []) this.names.add(t.name ?? '');
      for (const o of g.output ?? []) this.used.add(o.name ?? '');
      for (const n of g.node ?? []) {
        if (n.name) this.names.add(n.name);
        for (const x of [...(n.input ?? []), ...(n.output ?? [])]) this.names.add(x);
        for (const x of n.input ?? []) this.used.add(x);
        for (const a of n.attribute ?? []) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) visit(sub);
      }
    };
    visit(model.graph!);
  }

  fresh(base: string): string {
    const clean = base || 'upgrade';
    let name = clean;
    for (let i = 1; this.names.has(name); i++) name = `${clean}_${i}`;
    this.names.add(name);
    return name;
  }

  graph(g: onnx.IGraphProto, parent: Scope | undefined): onnx.IGraphProto {
    const scope = new Scope(parent);
    for (const t of g.initializer ?? []) {
      scope.constants.set(t.name ?? '', t);
      scope.learn(t.name ?? '', { elemType: t.dataType ?? undefined, rank: (t.dims ?? []).length });
    }
    for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) scope.learn(v.name ?? '', typeFacts(v.type));

    const added: onnx.ITensorProto[] = [];
    const removed = new Set<string>();
    const out: onnx.INodeProto[] = [];
    for (const original of g.node ?? []) {
      inferFacts(original, scope);
      let n = original;
      if ((n.attribute ?? []).some((a) => a.g || (a.graphs ?? []).length > 0)) {
        n = {
          ...n,
          attribute: (n.attribute ?? []).map((a) =>
            a.g || (a.graphs ?? []).length > 0
              ? { ...a, g: a.g ? this.graph(a.g, scope) : a.g, graphs: (a.graphs ?? []).map((s) => this.graph(s, scope)) }
              : a,
          ),
        };
      }
      const domain = n.domain ?? '';
      if (domain === '' || domain === 'ai.onnx') out.push(...this.node(n, scope, added, removed));
      else out.push(n);
    }

    const valueInfo = (g.valueInfo ?? []).filter((v) => !removed.has(v.name ?? ''));
    return { ...g, node: out, initializer: [...(g.initializer ?? []), ...added], valueInfo };
  }

  private node(n: onnx.INodeProto, scope: Scope, added: onnx.ITensorProto[], removed: Set<string>): onnx.INodeProto[] {
    const op = n.opType ?? '';
    const { source, target } = this;
    const fail = (reason: string): never => {
      throw new CoreError(
        'model-opset-upgrade',
        `Cannot upgrade op '${op}' (node '${n.name || n.output?.[0] || '?'}') from opset ${source} to ${target} automatically: ${reason}. ` +
          `Export the model at opset ${target} or newer.`,
      );
    };
    const versions = SCHEMA_VERSIONS.get(op);
    if (!versions) fail('it is not a standard ONNX operator');
    const version = [...versions!].reverse().find((v) => v <= source);
    if (version === undefined) fail(`it does not exist at opset ${source}`);

    const bumps = versions!.filter((v) => v > source && v <= target);
    for (const v of bumps) {
      const refusal = REFUSED_BUMPS[op]?.find(([at]) => at === v);
      if (refusal) fail(refusal[1]);
    }
    const rewriteBumps = REWRITE_BUMPS[op] ?? [];
    if (!ALWAYS_REWRITE.has(op) && !bumps.some((v) => rewriteBumps.includes(v))) return [n];

    const rewriter = REWRITERS[op];
    if (!rewriter) return fail('no rewrite is known for it');
    const cx: NodeContext = {
      source,
      target,
      version: version!,
      crosses: (v) => source < v && v <= target,
      fresh: (base) => this.fresh(base),
      int64Init: (base, values) => {
        const name = this.fresh(base);
        const data = BigInt64Array.from(values, (v) => BigInt(v));
        added.push({ name, dims: [values.length], dataType: T.INT64, rawData: new Uint8Array(data.buffer) });
        return name;
      },
      floatInit: (base, values) => {
        const name = this.fresh(base);
        added.push({ name, dims: [values.length], dataType: T.FLOAT, rawData: new Uint8Array(Float32Array.from(values).buffer) });
        return name;
      },
      scalarInit: (base, value, elemType) => {
        let raw: Uint8Array;
        if (elemType === T.FLOAT) raw = new Uint8Array(Float32Array.of(value).buffer);
        else if (elemType === T.DOUBLE) raw = new Uint8Array(Float64Array.of(value).buffer);
        else return undefined;
        const name = this.fresh(base);
        added.push({ name, dims: [], dataType: elemType, rawData: raw });
        return name;
      },
      facts: (name) => scope.fact(name),
      constant: (name) => scope.constant(name),
      isUsed: (name) => this.used.has(name),
      fail,
      removed: (name) => removed.add(name),
    };
    return rewriter(n, cx);
  }
}

/** Learn the element type and rank of a node's outputs (as computed at the source opset) where they can be told. */
function inferFacts(n: onnx.INodeProto, scope: Scope): void {
  const op = n.opType ?? '';
  const domain = n.domain ?? '';
  const outs = n.output ?? [];
  const ins = n.input ?? [];
  if (domain !== '' && domain !== 'ai.onnx') return;
  if (op === 'Constant') {
    const t = constantNodeValue(n);
    if (t && outs[0]) {
      scope.constants.set(outs[0], t);
      scope.learn(outs[0], { elemType: t.dataType ?? undefined, rank: (t.dims ?? []).length });
    }
    return;
  }
  const f = ins.map((x) => (x ? scope.fact(x) : {}));
  const r0 = f[0]?.rank;
  const constInts = (name: string | undefined): bigint[] | undefined => {
    const t = name ? scope.constant(name) : undefined;
    if (!t) return undefined;
    try {
      return [...tensorToBigInt64(t)];
    } catch {
      return undefined;
    }
  };

  let elemType: number | undefined;
  if (SAME_TYPE_OPS.has(op)) elemType = f[0]?.elemType;
  else if (BOOL_OPS.has(op)) elemType = T.BOOL;
  else if (INT64_OPS.has(op)) elemType = T.INT64;
  else if (op === 'Cast') elemType = attrInt(n, 'to', 0) || undefined;
  else if (op === 'CastLike') elemType = f[1]?.elemType;
  else if (op === 'Where') elemType = f[1]?.elemType;

  let rank: number | undefined;
  if (SAME_RANK_OPS.has(op)) rank = r0;
  else if (BROADCAST_OPS.has(op)) {
    const ranks = f.map((x) => x.rank);
    rank = ranks.length > 0 && ranks.every((r) => r !== undefined) ? Math.max(...(ranks as number[])) : undefined;
  } else if (op === 'Shape' || op === 'Range' || op === 'Compress') rank = op === 'Compress' && getAttr(n, 'axis') ? r0 : 1;
  else if (op === 'Size') rank = 0;
  else if (op === 'Flatten' || op === 'Gemm' || op === 'NonZero') rank = 2;
  else if (op === 'MatMul') {
    const [a, b] = [f[0]?.rank, f[1]?.rank];
    if (a !== undefined && b !== undefined) rank = a === 1 && b === 1 ? 0 : a === 1 ? b - 1 : b === 1 ? a - 1 : Math.max(a, b);
  } else if (op === 'Reshape') {
    const t = ins[1] ? scope.constant(ins[1]) : undefined;
    if (t) rank = elementCount(t);
  } else if (op === 'Expand') {
    const t = ins[1] ? scope.constant(ins[1]) : undefined;
    if (t && r0 !== undefined) rank = Math.max(r0, elementCount(t));
  } else if (op === 'ConstantOfShape') {
    const t = ins[0] ? scope.constant(ins[0]) : undefined;
    if (t) rank = elementCount(t);
  } else if (op === 'Squeeze' || op === 'Unsqueeze') {
    const axes = getAttr(n, 'axes') ? attrInts(n, 'axes') : constInts(ins[1])?.map(Number);
    if (r0 !== undefined && axes) rank = op === 'Squeeze' ? r0 - axes.length : r0 + axes.length;
  } else if (op === 'Gather') {
    if (r0 !== undefined && f[1]?.rank !== undefined) rank = r0 + f[1].rank - 1;
  } else if (op === 'GatherElements') rank = f[1]?.rank;
  else if (op === 'ArgMax' || op === 'ArgMin') {
    if (r0 !== undefined) rank = attrInt(n, 'keepdims', 1) ? r0 : r0 - 1;
  } else if (op === 'ReduceSum' || REDUCE_OPS.includes(op)) {
    if (r0 !== undefined) {
      if (attrInt(n, 'keepdims', 1)) rank = r0;
      else {
        const axes = getAttr(n, 'axes') ? attrInts(n, 'axes') : ins[1] ? constInts(ins[1])?.map(Number) : [];
        if (axes && axes.length === 0) rank = attrInt(n, 'noop_with_empty_axes', 0) ? r0 : 0;
        else if (axes) rank = r0 - new Set(axes.map((a) => (a < 0 ? a + r0 : a))).size;
      }
    }
  }

  outs.forEach((o, i) => {
    if (i === 0 || op === 'Split') scope.learn(o, { elemType, rank });
    else if (op === 'TopK') scope.learn(o, { elemType: T.INT64, rank });
    else if (op === 'Dropout') scope.learn(o, { rank });
  });
}

// ---------------------------------------------------------------------------------------------
// Attribute helpers
// ---------------------------------------------------------------------------------------------

function getAttr(n: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return (n.attribute ?? []).find((a) => a.name === name);
}

function attrInt(n: onnx.INodeProto, name: string, def: number): number {
  const a = getAttr(n, name);
  return a ? int64ToNumber(a.i ?? 0) : def;
}

function attrInts(n: onnx.INodeProto, name: string): number[] {
  return (getAttr(n, name)?.ints ?? []).map((v) => int64ToNumber(v));
}

function attrBigInts(n: onnx.INodeProto, name: string): bigint[] {
  return (getAttr(n, name)?.ints ?? []).map((v) => int64ToBigInt(v));
}

function attrFloat(n: onnx.INodeProto, name: string, def: number): number {
  const a = getAttr(n, name);
  return a ? (a.f ?? 0) : def;
}

function attrFloats(n: onnx.INodeProto, name: string): number[] {
  return [...(getAttr(n, name)?.floats ?? [])];
}

function attrString(n: onnx.INodeProto, name: string, def: string): string {
  const a = getAttr(n, name);
  return a?.s ? new TextDecoder().decode(a.s) : def;
}

function mkInt(name: string, i: number): onnx.IAttributeProto {
  return { name, type: A.INT, i };
}

function mkString(name: string, s: string): onnx.IAttributeProto {
  return { name, type: A.STRING, s: new TextEncoder().encode(s) };
}

/** A copy of the node with the named attributes removed and `extra` added (replacing same-named ones). */
function withAttrs(n: onnx.INodeProto, drop: readonly string[], extra: onnx.IAttributeProto[] = []): onnx.IAttributeProto[] {
  const gone = new Set([...drop, ...extra.map((a) => a.name ?? '')]);
  return [...(n.attribute ?? []).filter((a) => !gone.has(a.name ?? '')), ...extra];
}

function baseName(n: onnx.INodeProto): string {
  return n.name || n.output?.[0] || n.opType || 'node';
}

function simpleNode(opType: string, name: string, input: string[], output: string[], attribute: onnx.IAttributeProto[] = []): onnx.INodeProto {
  return { name, opType, domain: '', input, output, attribute };
}

// ---------------------------------------------------------------------------------------------
// Rewriters
// ---------------------------------------------------------------------------------------------

/** An attribute list of axes moved to an int64 input (Squeeze/Unsqueeze 13, ReduceSum 13, Reduce* 18). */
const axesToInput: Rewriter = (n, cx) => {
  if (!getAttr(n, 'axes')) return [n];
  const axes = attrInts(n, 'axes');
  const inputs = [n.input?.[0] ?? ''];
  if (axes.length > 0) inputs.push(cx.int64Init(`${baseName(n)}_axes`, axes));
  return [{ ...n, input: inputs, attribute: withAttrs(n, ['axes']) }];
};

const reduceRewriter = (inputAt: number): Rewriter => (n, cx) => (cx.crosses(inputAt) ? axesToInput(n, cx) : [n]);

/** Before opset 13 Softmax, LogSoftmax and Hardmax coerce the input to 2-D at `axis` (default 1); from 13 they work along `axis` (default -1). */
const softmaxRewriter: Rewriter = (n, cx) => {
  if (!cx.crosses(13)) return [n];
  const x = n.input?.[0] ?? '';
  const y = n.output?.[0] ?? '';
  const axis = attrInt(n, 'axis', 1);
  const rank = cx.facts(x).rank;
  if (rank !== undefined && rank >= 1) {
    const a = axis < 0 ? axis + rank : axis;
    if (a === rank - 1) return [{ ...n, attribute: withAttrs(n, [], [mkInt('axis', a)]) }];
  }
  // General case: the old 2-D coercion spelled out, then the original shape restored.
  const base = baseName(n);
  const shape = cx.fresh(`${base}_shape`);
  const flat = cx.fresh(`${base}_2d`);
  const res = cx.fresh(`${base}_2d_out`);
  const reshapeAttrs = cx.target >= 14 ? [mkInt('allowzero', 1)] : [];
  return [
    simpleNode('Shape', cx.fresh(`${base}_shape`), [x], [shape]),
    simpleNode('Flatten', cx.fresh(`${base}_flatten`), [x], [flat], [mkInt('axis', axis)]),
    { ...n, input: [flat], output: [res], attribute: withAttrs(n, [], [mkInt('axis', 1)]) },
    simpleNode('Reshape', cx.fresh(`${base}_reshape`), [res, shape], [y], reshapeAttrs),
  ];
};

const FLOAT_LIMITS: Record<number, number> = { [T.FLOAT]: 3.4028234663852886e38, [T.DOUBLE]: Number.MAX_VALUE };

const REWRITERS: Readonly<Record<string, Rewriter>> = {
  Clip: (n, cx) => {
    if (!cx.crosses(11)) return [n];
    const x = n.input?.[0] ?? '';
    const elemType = cx.facts(x).elemType;
    const limit = elemType === undefined ? undefined : FLOAT_LIMITS[elemType];
    if (limit === undefined) cx.fail("the element type of its input is not known to be float or double, so its 'min' and 'max' cannot become typed inputs");
    // Clip 6 defaults to the type's lowest/largest finite values, which clamp ±inf: keep that by always passing both.
    const base = baseName(n);
    const min = cx.scalarInit(`${base}_min`, attrFloat(n, 'min', -limit!), elemType)!;
    const max = cx.scalarInit(`${base}_max`, attrFloat(n, 'max', limit!), elemType)!;
    return [{ ...n, input: [x, min, max], attribute: withAttrs(n, ['min', 'max']) }];
  },

  Slice: (n, cx) => {
    if (!cx.crosses(10)) return [n];
    const base = baseName(n);
    const inputs = [
      n.input?.[0] ?? '',
      cx.int64Init(`${base}_starts`, attrBigInts(n, 'starts')),
      cx.int64Init(`${base}_ends`, attrBigInts(n, 'ends')),
    ];
    if (getAttr(n, 'axes')) inputs.push(cx.int64Init(`${base}_axes`, attrBigInts(n, 'axes')));
    return [{ ...n, input: inputs, attribute: withAttrs(n, ['starts', 'ends', 'axes']) }];
  },

  Squeeze: reduceRewriter(13),
  Unsqueeze: reduceRewriter(13),
  ReduceSum: reduceRewriter(13),
  ...Object.fromEntries(REDUCE_OPS.map((op) => [op, reduceRewriter(18)])),

  Split: (n, cx) => {
    let node = n;
    let hasSplit = cx.source >= 13 ? (n.input?.[1] ?? '') !== '' : getAttr(n, 'split') !== undefined;
    if (cx.crosses(13) && getAttr(n, 'split')) {
      const split = cx.int64Init(`${baseName(n)}_split`, attrBigInts(n, 'split'));
      node = { ...n, input: [n.input?.[0] ?? '', split], attribute: withAttrs(n, ['split']) };
      hasSplit = true;
    } else if (cx.crosses(13)) {
      node = { ...n, attribute: withAttrs(n, ['split']) };
    }
    if (cx.crosses(18) && !hasSplit && !getAttr(node, 'num_outputs')) {
      node = { ...node, attribute: withAttrs(node, [], [mkInt('num_outputs', (n.output ?? []).length)]) };
    }
    return [node];
  },

  Softmax: softmaxRewriter,
  LogSoftmax: softmaxRewriter,
  Hardmax: softmaxRewriter,

  Pad: (n, cx) => {
    if (!cx.crosses(11)) return [n];
    const base = baseName(n);
    const mode = attrString(n, 'mode', 'constant');
    const value = attrFloat(n, 'value', 0);
    const inputs = [n.input?.[0] ?? '', cx.int64Init(`${base}_pads`, attrBigInts(n, 'pads'))];
    if (mode === 'constant' && !Object.is(value, 0)) {
      const v = cx.scalarInit(`${base}_value`, value, cx.facts(inputs[0]).elemType);
      if (v === undefined) cx.fail("the element type of its input is not known to be float or double, so its 'value' cannot become a typed input");
      inputs.push(v!);
    }
    return [{ ...n, input: inputs, attribute: withAttrs(n, ['pads', 'value']) }];
  },

  Dropout: (n, cx) => {
    const mask = n.output?.[1] ?? '';
    if (mask !== '' && cx.isUsed(mask)) {
      // Before opset 12 ONNX left the inference-mode mask unspecified (ONNX Runtime returns all false, and its type
      // was the input's before opset 10); from 12 it is all true. No rewrite keeps that output, so refuse.
      cx.fail('its mask output is read, and the inference-mode mask is only defined from opset 12');
    }
    // Inference: Dropout is the identity on its first output.
    if (mask) cx.removed(mask);
    return [simpleNode('Identity', n.name ?? '', [n.input?.[0] ?? ''], [n.output?.[0] ?? ''])];
  },

  BatchNormalization: (n, cx) => {
    let drop = ['consumed_inputs', 'is_test'];
    if (cx.crosses(9)) {
      if (getAttr(n, 'spatial') && attrInt(n, 'spatial', 1) !== 1) cx.fail("its 'spatial' attribute is 0, a mode that opset 9 removed");
      drop = [...drop, 'spatial'];
    }
    let outputs = [...(n.output ?? [])];
    if (cx.crosses(14) && outputs.length > 1) {
      const extra = outputs.slice(1).filter((o) => o !== '');
      if (extra.some((o) => cx.isUsed(o))) cx.fail('it reads its training statistics outputs, which opset 14 only produces in training mode');
      for (const o of extra) cx.removed(o);
      outputs = outputs.slice(0, 1);
    }
    return [{ ...n, output: outputs, attribute: withAttrs(n, drop) }];
  },

  Upsample: (n, cx) => {
    const mode = attrString(n, 'mode', 'nearest');
    if (mode !== 'nearest' && mode !== 'linear') cx.fail(`its mode '${mode}' has no Resize equivalent`);
    const scales = cx.version < 9 ? cx.floatInit(`${baseName(n)}_scales`, attrFloats(n, 'scales')) : (n.input?.[1] ?? '');
    return [
      {
        name: n.name,
        opType: 'Resize',
        domain: '',
        input: [n.input?.[0] ?? '', '', scales],
        output: [...(n.output ?? [])],
        attribute: legacyResizeAttrs(mode, scales, cx, true),
      },
    ];
  },

  Resize: (n, cx) => {
    if (cx.version === 10) {
      const mode = attrString(n, 'mode', 'nearest');
      if (mode !== 'nearest' && mode !== 'linear') cx.fail(`its mode '${mode}' is not valid at opset 10`);
      const scales = n.input?.[1] ?? '';
      return [{ ...n, input: [n.input?.[0] ?? '', '', scales], attribute: withAttrs(n, [], legacyResizeAttrs(mode, scales, cx, false)) }];
    }
    if (cx.crosses(13) && attrString(n, 'coordinate_transformation_mode', 'half_pixel') === 'tf_half_pixel_for_nn') {
      cx.fail("its coordinate_transformation_mode 'tf_half_pixel_for_nn' was removed at opset 13");
    }
    return [n];
  },

  TopK: (n, cx) => {
    if (!cx.crosses(10)) return [n];
    const k = cx.int64Init(`${baseName(n)}_k`, [attrInt(n, 'k', 0)]);
    return [{ ...n, input: [n.input?.[0] ?? '', k], attribute: withAttrs(n, ['k']) }];
  },

  Scatter: (n) => [{ ...n, opType: 'ScatterElements' }],

  RoiAlign: (n, cx) => {
    if (!cx.crosses(16) || getAttr(n, 'coordinate_transformation_mode')) return [n];
    return [{ ...n, attribute: withAttrs(n, [], [mkString('coordinate_transformation_mode', 'output_half_pixel')]) }];
  },
};

/**
 * Resize 11+ attributes that reproduce Upsample (7..10) and Resize 10: 'asymmetric' coordinates and, for nearest,
 * the pre-11 rounding. Upsample's scales are >= 1 by definition and its index is floor(x / scale): 'floor'. Resize 10
 * as ONNX Runtime runs it truncates on an axis it up-samples ('floor') and rounds up on one it down-samples ('ceil'),
 * so the scales must be constant and not mix both.
 */
function legacyResizeAttrs(mode: string, scalesName: string, cx: NodeContext, upsample: boolean): onnx.IAttributeProto[] {
  const attrs = [mkString('mode', mode), mkString('coordinate_transformation_mode', 'asymmetric')];
  if (mode !== 'nearest') return attrs;
  if (upsample) return [...attrs, mkString('nearest_mode', 'floor')];
  const t = scalesName ? cx.constant(scalesName) : undefined;
  let scales: number[] | undefined;
  try {
    scales = t ? [...tensorToFloat32(t)] : undefined;
  } catch {
    scales = undefined;
  }
  if (!scales) cx.fail('its scales are computed at run time, and its nearest rounding depends on whether each axis shrinks');
  if (scales!.some((v) => v < 1) && scales!.some((v) => v > 1)) {
    cx.fail('its scales mix up- and down-sampling, which opset 10 rounds differently per axis');
  }
  return [...attrs, mkString('nearest_mode', scales!.some((v) => v < 1) ? 'ceil' : 'floor')];
}
