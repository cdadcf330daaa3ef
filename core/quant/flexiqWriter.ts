/**
 * Writes a FlexiQ model for one ratio: every Gemm/MatMul layer in the plan becomes a real mixed 4/8-bit kernel built
 * from com.microsoft MatMulNBits (ONNX Runtime's packed low-bit matmul):
 *
 *   y = MatMulNBits(x_low, W4, bits = 4) + MatMulNBits(x_high, W8, bits = 8, bias)
 *
 * W8 holds the shared per-output-channel 8-bit codes of the high group, W4 the bit-lowered 4-bit codes of the low
 * group (see flexiq.ts); both are stored offset-binary with MatMulNBits' default zero points (8 and 128) and the
 * per-channel scales repeated over the K blocks; the bias rides on the last MatMulNBits (its optional input 5).
 * Within each group channels run in ascending index order, so a plan's channel list is a set.
 *
 * How the two groups are cut out of the activation x, cheapest first:
 * - 'direct' / 'split': the groups are already [0, K) in order (ratio 0 or 100: one MatMulNBits, no Add), or the
 *   layer that produces x (another planned layer, reached through single-consumer channel-wise ops such as Relu)
 *   has its output channels permuted at write time to [low, high]; x is then cut with one Split.
 * - 'gather': otherwise (e.g. the first layer, fed by the graph input). ORT's Gather copies one element at a time
 *   along the last axis (~1.3 ms for 64 x 784 floats here), so a Gemm input is transposed, gathered along axis 0
 *   (whole rows) and transposed back; a MatMul input (any rank) uses Gather on the last axis.
 * A group whose size is not a multiple of 16 (MatMulNBits' smallest block) is gathered and padded with zero weight
 * rows (their index repeats a real channel; the weight is exactly 0).
 *
 * Bit-lowering shifts: when every channel of the 4-bit group has the same shift, 2^shift goes into its scales.
 * Otherwise x_low must be multiplied by 2^shift[k] per channel: if only positively homogeneous ops (Relu, LeakyRelu,
 * PRelu, Identity) lie between the producing planned layer and x, that factor is folded into the producer's output
 * scales and bias (exact: scaling by a power of two commutes with float rounding); else a Mul node does it.
 * Layers not in the plan (and every non-Gemm/MatMul layer) stay FP32.
 */
import { CoreError } from '../api/errors.js';
import { GraphBuilder } from '../onnx/graphBuilder.js';
import type { ModelGraph } from '../onnx/graph.js';
import { onnx } from '../onnx/generated/onnxProto.js';
import { tensorToFloat32 } from '../onnx/modelCodec.js';
import { weightTensor } from '../onnx/modelEdit.js';
import { attrInt, floatTensor, int64Tensor, uint8Tensor } from '../onnx/tensorBuilders.js';
import { stableJson } from '../util/hash.js';
import { checkRatio, effectiveRatios, FLEXIQ_BLOCK, lowerAll, quantizeLayer8, type FlexiqLayerPlan, type FlexiqLayerQuant, type FlexiqPlan, type LoweringRounding } from './flexiq.js';
import { packCodes } from './packing.js';
import { blockSizeFor, quantizableLayers, type QuantizableLayer } from './quantizableLayers.js';

function attrInts(name: string, ints: number[]): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints };
}

/** The 8-bit grid of a weight depends only on its tensor, so it is computed once per tensor object. */
const layerQuantCache = new WeakMap<onnx.ITensorProto, FlexiqLayerQuant>();

/** The bit-lowered codes of a layer's 8-bit grid, per rounding: computed once, reused by every ratio. */
const loweredCache = new WeakMap<FlexiqLayerQuant, Map<LoweringRounding, { codes4: Int8Array; shifts: Uint8Array }>>();

function lowered(q: FlexiqLayerQuant, rounding: LoweringRounding): { codes4: Int8Array; shifts: Uint8Array } {
  let byRounding = loweredCache.get(q);
  if (!byRounding) loweredCache.set(q, (byRounding = new Map()));
  let l = byRounding.get(rounding);
  if (!l) byRounding.set(rounding, (l = lowerAll(q, rounding)));
  return l;
}

/** The shared 8-bit quantization of a Gemm/MatMul layer's weight (cached per weight tensor). */
export function flexiqLayerQuant(model: onnx.IModelProto, layer: QuantizableLayer): FlexiqLayerQuant {
  const t = weightTensor(model, layer.weight);
  let q = layerQuantCache.get(t);
  if (!q) {
    q = quantizeLayer8(tensorToFloat32(t), layer.weightDims, layer.channelAxis);
    layerQuantCache.set(t, q);
  }
  return q;
}

/** The Gemm/MatMul layers FlexiQ can rewrite; CoreError 'quant-no-layers' when there are none. */
export function flexiqLayers(model: onnx.IModelProto, graph: ModelGraph, modelName = 'model'): QuantizableLayer[] {
  const layers = quantizableLayers(model, graph).filter((l) => l.opType === 'Gemm' || l.opType === 'MatMul');
  if (layers.length === 0) {
    throw new CoreError('quant-no-layers', `Model '${modelName}' has no Gemm or MatMul layer with a constant 2-D weight, so FlexiQ has no channels to mix. Use a model with fully connected layers.`);
  }
  return layers;
}

interface Part {
  bits: 4 | 8;
  /** Channel per row of the part, padding included. */
  indices: number[];
  /** Codes per output column (in column order), [N, rows padded], offset-binary. */
  stored: Uint8Array;
  scales: Float32Array;
  /** Per-row activation multiplier 2^shift when the rows' shifts differ and no producer took them, else null. */
  multiplier: Float32Array | null;
  blockSize: number;
}

/** Packs one group of input channels at `bits`; output columns in `columns` order. */
function buildPart(
  q: FlexiqLayerQuant,
  channels: readonly number[],
  bits: 4 | 8,
  rounding: LoweringRounding,
  columns: Int32Array,
  columnScale: Float32Array | null,
  shiftsUpstream: boolean,
): Part {
  const rows = channels.length;
  const padded = Math.ceil(rows / FLEXIQ_BLOCK) * FLEXIQ_BLOCK;
  const indices = [...channels];
  while (indices.length < padded) indices.push(channels[0]);
  const offset = bits === 4 ? 8 : 128;
  // Padding rows keep the zero point: their weight is exactly 0.
  const stored = new Uint8Array(q.n * padded).fill(offset);
  let multiplier: Float32Array | null = null;
  let fold = 1;
  if (bits === 8) {
    for (let i = 0; i < rows; i++) {
      const base = channels[i] * q.n;
      for (let j = 0; j < q.n; j++) stored[j * padded + i] = q.codes[base + columns[j]] + offset;
    }
  } else {
    const { codes4, shifts: all } = lowered(q, rounding);
    const shifts = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      const base = channels[i] * q.n;
      shifts[i] = all[channels[i]];
      for (let j = 0; j < q.n; j++) stored[j * padded + i] = codes4[base + columns[j]] + offset;
    }
    if (shifts.every((x) => x === shifts[0])) {
      fold = 2 ** shifts[0];
    } else if (!shiftsUpstream) {
      multiplier = new Float32Array(padded).fill(1);
      for (let i = 0; i < rows; i++) multiplier[i] = 2 ** shifts[i];
    }
  }
  const blockSize = blockSizeFor(padded);
  const blocks = padded / blockSize;
  const scales = new Float32Array(q.n * blocks);
  for (let j = 0; j < q.n; j++) scales.fill(q.scales[columns[j]] * fold * (columnScale ? columnScale[columns[j]] : 1), j * blocks, (j + 1) * blocks);
  return { bits, indices, stored, scales, multiplier, blockSize };
}

function packPart(p: Part, n: number): Uint8Array {
  const k = p.indices.length;
  const rowBytes = (k * p.bits) / 8;
  const out = new Uint8Array(n * rowBytes);
  for (let j = 0; j < n; j++) out.set(packCodes(p.stored.subarray(j * k, (j + 1) * k), p.bits), j * rowBytes);
  return out;
}

function checkChannels(l: QuantizableLayer, k: number, channels: readonly number[]): void {
  const seen = new Uint8Array(k);
  for (const c of channels) {
    if (!Number.isInteger(c) || c < 0 || c >= k || seen[c]) {
      throw new CoreError(
        'flexiq-channels-invalid',
        `The 4-bit channel list of layer '${l.name}' has ${seen[c] ? 'a repeated' : 'an invalid'} channel ${String(c)}. Give distinct channel indices from 0 to ${k - 1}.`,
      );
    }
    seen[c] = 1;
  }
}

/** Element-wise ops a channel permutation passes through unchanged (extra inputs, if any, must be scalars). */
const CHANNEL_TRANSPARENT = new Set(['Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'Tanh', 'Elu', 'Selu', 'Softplus', 'Softsign', 'HardSigmoid', 'HardSwish', 'Gelu', 'Identity', 'Clip']);

/** Ops with f(c * z) = c * f(z) for c > 0: a power-of-two factor on the producer's output passes through them. */
const POSITIVELY_HOMOGENEOUS = new Set(['Relu', 'LeakyRelu', 'PRelu', 'Identity']);

/** How a layer's activation reaches its two groups. */
type InputMode = 'direct' | 'split' | 'gather';

interface LayerWork {
  layer: QuantizableLayer;
  plan: FlexiqLayerPlan;
  q: FlexiqLayerQuant;
  nodeIndex: number;
  low: number[];
  high: number[];
  mode: InputMode;
  /** Output-channel order of this layer's result (identity unless its consumer asked for its groups contiguous). */
  columns: Int32Array;
  columnsPermuted: boolean;
  /** Power-of-two factor per output channel (original index) that a consumer's bit-lowering shifts asked for. */
  columnScale: Float32Array | null;
  /** The 4-bit group's per-channel shifts were folded into the producer (no Mul here). */
  shiftsUpstream: boolean;
  biasValues: Float32Array | null;
}

/**
 * The planned layer whose output reaches `w`'s activation through single-consumer, channel-wise ops only, so that
 * permuting that layer's output channels permutes `w`'s input channels. null when there is none.
 */
function permutableProducer(w: LayerWork, graph: ModelGraph, byPosition: ReadonlyMap<number, LayerWork>): { producer: LayerWork; homogeneous: boolean } | null {
  let t = w.layer.activation;
  let homogeneous = true;
  for (;;) {
    const info = graph.tensors.get(t);
    if (!info || info.isGraphOutput || info.consumers.length !== 1 || info.producer === null || info.producer === 0) return null;
    const planned = byPosition.get(info.producer);
    if (planned) return planned.biasValues || !planned.layer.bias ? { producer: planned, homogeneous } : null;
    const node = graph.layers[info.producer - 1];
    if (!CHANNEL_TRANSPARENT.has(node.opType) || node.domain !== '' || node.outputs.length !== 1) return null;
    const extra = node.inputs.slice(1).filter(Boolean);
    if (extra.some((x) => (graph.weights.get(x)?.elementCount ?? 0) !== 1)) return null;
    if (!POSITIVELY_HOMOGENEOUS.has(node.opType)) homogeneous = false;
    t = node.inputs[0];
  }
}

/**
 * Writes the FlexiQ model for `plan` (see the module comment). Pure and deterministic: the same model and plan give
 * the same bytes (a layer's channel list is a set: its order does not matter). The configuration is recorded in
 * metadata 'partita.quant' as stable JSON.
 */
export function writeFlexiqModel(model: onnx.IModelProto, graph: ModelGraph, plan: FlexiqPlan): onnx.IModelProto {
  const layers = flexiqLayers(model, graph);
  const rounding = plan.rounding ?? 'nearest';
  const accuracyLevel = plan.accuracyLevel ?? 4;
  if (rounding !== 'nearest' && rounding !== 'truncate') {
    throw new CoreError('flexiq-rounding-invalid', `Bit-lowering rounding '${String(rounding)}' is not supported. Use 'nearest' or 'truncate'.`);
  }
  if (![0, 1, 2, 3, 4].includes(accuracyLevel)) {
    throw new CoreError('flexiq-accuracy-level-invalid', `MatMulNBits accuracy level ${String(accuracyLevel)} does not exist. Use 0 to 4 (4: int8 compute, 1: fp32 compute).`);
  }
  const opset = graph.opsets[''] ?? 0;
  const nodes = model.graph!.node ?? [];
  const works: LayerWork[] = [];
  const byPosition = new Map<number, LayerWork>();
  for (const lp of plan.layers) {
    const l = layers.find((x) => x.name === lp.name);
    if (!l) {
      throw new CoreError('flexiq-layer-unknown', `Layer '${lp.name}' is not a Gemm/MatMul layer of this model. Use one of: ${layers.map((x) => `'${x.name}'`).join(', ')}.`);
    }
    if (byPosition.has(l.position)) throw new CoreError('flexiq-layer-repeated', `Layer '${l.name}' appears twice in the FlexiQ plan. List each layer once.`);
    checkRatio(lp.ratio);
    const nodeIndex = graph.layers[l.position - 1].nodeIndex;
    if (l.opType === 'Gemm') {
      const f = (name: string) => nodes[nodeIndex].attribute?.find((a) => a.name === name)?.f;
      if ((f('alpha') ?? 1) !== 1 || (f('beta') ?? 1) !== 1) {
        throw new CoreError('quant-not-deployable', `Gemm '${l.name}' scales by alpha/beta; MatMulNBits cannot. Leave it out of the FlexiQ plan (it stays FP32).`);
      }
    }
    const q = flexiqLayerQuant(model, l);
    checkChannels(l, q.k, lp.lowChannels);
    const isLow = new Uint8Array(q.k);
    for (const c of lp.lowChannels) isLow[c] = 1;
    const low: number[] = [];
    const high: number[] = [];
    for (let k = 0; k < q.k; k++) (isLow[k] ? low : high).push(k);
    const biasValues = l.bias ? tensorToFloat32(weightTensor(model, l.bias)) : null;
    const w: LayerWork = {
      layer: l,
      plan: lp,
      q,
      nodeIndex,
      low,
      high,
      mode: 'direct',
      columns: Int32Array.from({ length: q.n }, (_, i) => i),
      columnsPermuted: false,
      columnScale: null,
      shiftsUpstream: false,
      biasValues: biasValues && biasValues.length === q.n ? biasValues : null,
    };
    works.push(w);
    byPosition.set(l.position, w);
  }

  // Each group must be contiguous in the activation. When the groups are not already [0, K) in order, permute the
  // producing layer's output channels to [low, high] (free at run time; the activation is then Split), else gather.
  // Likewise, differing bit-lowering shifts of the 4-bit group become a power-of-two factor on the producer's output
  // channels when only ReLU-like ops lie between (exact: scaling by 2^s commutes with float rounding), else a Mul.
  for (const w of works) {
    const whole = w.low.length % FLEXIQ_BLOCK === 0 && w.high.length % FLEXIQ_BLOCK === 0;
    const inOrder = whole && [...w.low, ...w.high].every((c, i) => c === i);
    const shifts = w.low.map((c) => 4 - w.q.unusedBits[c]);
    const mixedShifts = shifts.some((x) => x !== shifts[0]);
    const found = (!inOrder && whole) || mixedShifts ? permutableProducer(w, graph, byPosition) : null;
    const p = found && found.producer.q.n === w.q.k ? found.producer : null;
    if (inOrder) {
      w.mode = w.low.length && w.high.length ? 'split' : 'direct';
    } else if (whole && p && !p.columnsPermuted) {
      p.columns = Int32Array.from([...w.low, ...w.high]);
      p.columnsPermuted = true;
      w.mode = 'split';
    } else {
      w.mode = 'gather';
    }
    if (mixedShifts && p && found?.homogeneous) {
      p.columnScale = new Float32Array(w.q.k).fill(1);
      w.low.forEach((c, i) => (p.columnScale![c] = 2 ** shifts[i]));
      w.shiftsUpstream = true;
    }
  }
  if (works.some((w) => w.mode === 'gather' && w.layer.opType === 'MatMul') && opset < 11) {
    throw new CoreError('quant-not-deployable', `FlexiQ needs Gather on the last axis of a MatMul input (opset >= 11) but the model has opset ${opset}. Upgrade the model's opset first.`);
  }

  const b = new GraphBuilder(model);
  for (const w of works) emitLayer(b, w, rounding, accuracyLevel, nodes[w.nodeIndex].output![0]);

  const eff = effectiveRatios(new Map(works.map((w) => [w.layer.name, { k: w.q.k, n: w.q.n }])), plan);
  b.setMetadata(
    'partita.quant',
    stableJson({
      format: 'flexiq',
      version: 1,
      grid: '8-bit symmetric per output channel; 4-bit = bit-lowered 8-bit codes',
      rounding,
      accuracyLevel,
      macShare4: eff.macShare,
      layers: works.map((w, i) => ({
        ...eff.layers[i],
        ratio: w.plan.ratio,
        input: w.mode,
        outputPermuted: w.columnsPermuted,
        outputScaled: w.columnScale !== null,
        lowChannels: w.low,
      })),
    }),
  );
  b.useDomain('com.microsoft', 1);
  return b.build();
}

function emitLayer(b: GraphBuilder, w: LayerWork, rounding: LoweringRounding, accuracyLevel: number, finalOut: string): void {
  const { layer: l, q } = w;
  const p = b.fresh(`${l.weight}_flexiq`);
  const nodes: onnx.INodeProto[] = [];
  const parts = [
    w.low.length ? buildPart(q, w.low, 4, rounding, w.columns, w.columnScale, w.shiftsUpstream) : null,
    w.high.length ? buildPart(q, w.high, 8, rounding, w.columns, w.columnScale, w.shiftsUpstream) : null,
  ].filter((x) => x !== null);
  // Activation of each part.
  const xs: string[] = [];
  if (w.mode === 'direct') {
    xs.push(l.activation);
  } else if (w.mode === 'split') {
    const sizes = b.addInitializer(int64Tensor(b.fresh(`${p}_split`), [2], [w.low.length, w.high.length]));
    const [a, c] = [b.fresh(`${p}_x4`), b.fresh(`${p}_x8`)];
    nodes.push({ opType: 'Split', name: `${p}_Split`, input: [l.activation, sizes], output: [a, c], attribute: [attrInt('axis', -1)] });
    xs.push(a, c);
  } else if (l.opType === 'Gemm') {
    // ORT's Gather copies one element at a time along the last axis; on the transposed [K, M] activation it copies
    // whole rows, which is an order of magnitude faster from batch ~8 up (Gemm inputs are 2-D).
    const xt = b.fresh(`${p}_xT`);
    nodes.push({ opType: 'Transpose', name: `${p}_Transpose`, input: [l.activation], output: [xt], attribute: [attrInts('perm', [1, 0])] });
    for (const part of parts) {
      const tag = `${p}_w${part.bits}`;
      const idx = b.addInitializer(int64Tensor(b.fresh(`${tag}_channels`), [part.indices.length], part.indices));
      const [gt, g] = [b.fresh(`${tag}_xT`), b.fresh(`${tag}_x`)];
      nodes.push({ opType: 'Gather', name: `${tag}_Gather`, input: [xt, idx], output: [gt], attribute: [attrInt('axis', 0)] });
      nodes.push({ opType: 'Transpose', name: `${tag}_Transpose`, input: [gt], output: [g], attribute: [attrInts('perm', [1, 0])] });
      xs.push(g);
    }
  } else {
    for (const part of parts) {
      const tag = `${p}_w${part.bits}`;
      const idx = b.addInitializer(int64Tensor(b.fresh(`${tag}_channels`), [part.indices.length], part.indices));
      const g = b.fresh(`${tag}_x`);
      nodes.push({ opType: 'Gather', name: `${tag}_Gather`, input: [l.activation, idx], output: [g], attribute: [attrInt('axis', -1)] });
      xs.push(g);
    }
  }
  // The bias rides on the last MatMulNBits (its optional input 5), permuted like the output channels.
  let bias = '';
  if (w.biasValues) {
    const v = new Float32Array(q.n);
    for (let j = 0; j < q.n; j++) v[j] = w.biasValues[w.columns[j]] * (w.columnScale ? w.columnScale[w.columns[j]] : 1);
    bias = b.addInitializer(floatTensor(b.fresh(`${p}_bias`), [q.n], v));
  }
  const outs: string[] = [];
  parts.forEach((part, i) => {
    const tag = `${p}_w${part.bits}`;
    let x = xs[i];
    if (part.multiplier) {
      const m = b.addInitializer(floatTensor(b.fresh(`${tag}_shift`), [part.multiplier.length], part.multiplier));
      const scaled = b.fresh(`${tag}_xs`);
      nodes.push({ opType: 'Mul', name: `${tag}_Shift`, input: [x, m], output: [scaled] });
      x = scaled;
    }
    const last = i === parts.length - 1;
    const blocks = part.indices.length / part.blockSize;
    const bT = b.addInitializer(uint8Tensor(b.fresh(`${tag}_B`), [q.n, blocks, (part.blockSize * part.bits) / 8], packPart(part, q.n)));
    const sT = b.addInitializer(floatTensor(b.fresh(`${tag}_scales`), [q.n * blocks], part.scales));
    const y = parts.length === 1 && (!l.bias || bias) ? finalOut : b.fresh(`${tag}_y`);
    const inputs = last && bias ? [x, bT, sT, '', '', bias] : [x, bT, sT];
    nodes.push({
      opType: 'MatMulNBits',
      domain: 'com.microsoft',
      name: `${tag}_MatMulNBits`,
      input: inputs,
      output: [y],
      attribute: [attrInt('K', part.indices.length), attrInt('N', q.n), attrInt('bits', part.bits), attrInt('block_size', part.blockSize), attrInt('accuracy_level', accuracyLevel)],
    });
    outs.push(y);
  });
  let sum = outs[0];
  if (outs.length === 2) {
    sum = l.bias && !bias ? b.fresh(`${p}_sum`) : finalOut;
    nodes.push({ opType: 'Add', name: `${p}_Add`, input: outs, output: [sum] });
  }
  // A bias that is not one value per output channel (e.g. a full [M, N] Gemm C) stays a broadcast Add.
  if (l.bias && !bias) nodes.push({ opType: 'Add', name: `${p}_bias`, input: [sum, l.bias], output: [finalOut] });
  b.insertBefore(w.nodeIndex, ...nodes);
  b.remove(w.nodeIndex);
}
