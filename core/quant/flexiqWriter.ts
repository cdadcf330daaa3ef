/**
 * Writes a FlexiQ model for one ratio: every Gemm/MatMul layer in the plan becomes a real mixed 4/8-bit kernel built
 * from com.microsoft MatMulNBits (ONNX Runtime's packed low-bit matmul):
 *
 *   x4 = Gather(x, lowChannels, axis = last)         the 4-bit group, in plan order
 *   x4 = Mul(x4, 2^shift[k])                         only when the group's bit-lowering shifts differ (else folded
 *                                                    into the scales); powers of two, so exact in float
 *   y  = MatMulNBits(x4, W4, bits = 4) + MatMulNBits(Gather(x, highChannels), W8, bits = 8)  (+ bias)
 *
 * W8 holds the shared per-output-channel 8-bit codes, W4 their bit-lowered 4-bit codes (see flexiq.ts); both are
 * stored offset-binary with MatMulNBits' default zero points (8 and 128), scales replicated over the K blocks.
 * A part whose channel count is not a multiple of 16 (MatMulNBits' smallest block) is padded with zero weight rows
 * (their Gather index repeats a real channel; the weight is exactly 0). Ratio 0 / 100 are one 8-bit / one 4-bit
 * MatMulNBits: no Gather when the group is every channel in order, and for 100% only the shift Mul.
 * Layers not in the plan (and every non-Gemm/MatMul layer) stay FP32.
 */
import { CoreError } from '../api/errors.js';
import { GraphBuilder } from '../onnx/graphBuilder.js';
import type { ModelGraph } from '../onnx/graph.js';
import type { onnx } from '../onnx/generated/onnxProto.js';
import { tensorToFloat32 } from '../onnx/modelCodec.js';
import { weightTensor } from '../onnx/modelEdit.js';
import { attrInt, floatTensor, int64Tensor, uint8Tensor } from '../onnx/tensorBuilders.js';
import { stableJson } from '../util/hash.js';
import { checkRatio, effectiveRatios, FLEXIQ_BLOCK, lowerRow, quantizeLayer8, type FlexiqLayerQuant, type FlexiqPlan } from './flexiq.js';
import { packCodes } from './packing.js';
import { blockSizeFor, quantizableLayers, type QuantizableLayer } from './quantizableLayers.js';

/** The 8-bit grid of a weight depends only on its tensor, so it is computed once per tensor object. */
const layerQuantCache = new WeakMap<onnx.ITensorProto, FlexiqLayerQuant>();

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
  /** Real (unpadded) rows. */
  rows: number;
  /** Codes per output channel, [N, rows padded], unsigned (offset-binary). */
  stored: Uint8Array;
  scales: Float32Array;
  /** Per-row activation multiplier when the rows' shifts differ, else null. */
  multiplier: Float32Array | null;
  blockSize: number;
}

function buildPart(q: FlexiqLayerQuant, channels: readonly number[], bits: 4 | 8, rounding: FlexiqPlan['rounding']): Part {
  const rows = channels.length;
  const padded = Math.ceil(rows / FLEXIQ_BLOCK) * FLEXIQ_BLOCK;
  const indices = [...channels];
  while (indices.length < padded) indices.push(channels[0]);
  const offset = bits === 4 ? 8 : 128;
  const stored = new Uint8Array(q.n * padded).fill(offset);
  let multiplier: Float32Array | null = null;
  let fold = 1;
  if (bits === 8) {
    for (let i = 0; i < rows; i++) {
      const k = channels[i];
      for (let j = 0; j < q.n; j++) stored[j * padded + i] = q.codes[k * q.n + j] + offset;
    }
  } else {
    const shifts = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      const { codes4, shift } = lowerRow(q, channels[i], rounding);
      shifts[i] = shift;
      for (let j = 0; j < q.n; j++) stored[j * padded + i] = codes4[j] + offset;
    }
    if (shifts.every((s) => s === shifts[0])) {
      fold = 2 ** shifts[0];
    } else {
      multiplier = new Float32Array(padded).fill(1);
      for (let i = 0; i < rows; i++) multiplier[i] = 2 ** shifts[i];
    }
  }
  const blockSize = blockSizeFor(padded);
  const blocks = padded / blockSize;
  const scales = new Float32Array(q.n * blocks);
  for (let j = 0; j < q.n; j++) scales.fill(q.scales[j] * fold, j * blocks, (j + 1) * blocks);
  return { bits, indices, rows, stored, scales, multiplier, blockSize };
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

/**
 * Writes the FlexiQ model for `plan` (see the module comment). Pure and deterministic: the same model and plan give
 * the same bytes. The configuration is recorded in metadata 'partita.quant' as stable JSON.
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
  const b = new GraphBuilder(model);
  const nodes = model.graph!.node ?? [];
  const shapes = new Map<string, { k: number; n: number }>();
  const seen = new Set<string>();
  for (const lp of plan.layers) {
    const l = layers.find((x) => x.name === lp.name);
    if (!l) {
      throw new CoreError('flexiq-layer-unknown', `Layer '${lp.name}' is not a Gemm/MatMul layer of this model. Use one of: ${layers.map((x) => `'${x.name}'`).join(', ')}.`);
    }
    if (seen.has(l.name)) throw new CoreError('flexiq-layer-repeated', `Layer '${l.name}' appears twice in the FlexiQ plan. List each layer once.`);
    seen.add(l.name);
    checkRatio(lp.ratio);
    const at = graph.layers[l.position - 1].nodeIndex;
    const node = nodes[at];
    if (l.opType === 'Gemm') {
      const f = (name: string) => node.attribute?.find((a) => a.name === name)?.f;
      if ((f('alpha') ?? 1) !== 1 || (f('beta') ?? 1) !== 1) {
        throw new CoreError('quant-not-deployable', `Gemm '${l.name}' scales by alpha/beta; MatMulNBits cannot. Leave it out of the FlexiQ plan (it stays FP32).`);
      }
    } else if (opset < 11) {
      throw new CoreError('quant-not-deployable', `MatMul '${l.name}' needs Gather on the last axis (opset >= 11) but the model has opset ${opset}. Upgrade the model's opset first.`);
    }
    const q = flexiqLayerQuant(model, l);
    shapes.set(l.name, { k: q.k, n: q.n });
    checkChannels(l, q.k, lp.lowChannels);
    const isLow = new Uint8Array(q.k);
    for (const c of lp.lowChannels) isLow[c] = 1;
    const high: number[] = [];
    for (let k = 0; k < q.k; k++) if (!isLow[k]) high.push(k);

    const p = b.fresh(`${l.weight}_flexiq`);
    const axis = l.opType === 'Gemm' ? 1 : -1;
    const replacement: onnx.INodeProto[] = [];
    const outputs: string[] = [];
    const parts = [lp.lowChannels.length ? buildPart(q, lp.lowChannels, 4, rounding) : null, high.length ? buildPart(q, high, 8, rounding) : null].filter((x) => x !== null);
    const finalOut = node.output![0];
    for (const part of parts) {
      const tag = `${p}_w${part.bits}`;
      let x = l.activation;
      const identity = part.indices.length === q.k && part.indices.every((c, i) => c === i);
      if (!identity) {
        const idx = b.addInitializer(int64Tensor(b.fresh(`${tag}_channels`), [part.indices.length], part.indices));
        x = b.fresh(`${tag}_x`);
        replacement.push({ opType: 'Gather', name: `${tag}_Gather`, input: [l.activation, idx], output: [x], attribute: [attrInt('axis', axis)] });
      }
      if (part.multiplier) {
        const m = b.addInitializer(floatTensor(b.fresh(`${tag}_shift`), [part.multiplier.length], part.multiplier));
        const xs = b.fresh(`${tag}_xs`);
        replacement.push({ opType: 'Mul', name: `${tag}_Shift`, input: [x, m], output: [xs] });
        x = xs;
      }
      const blocks = part.indices.length / part.blockSize;
      const bT = b.addInitializer(uint8Tensor(b.fresh(`${tag}_B`), [q.n, blocks, (part.blockSize * part.bits) / 8], packPart(part, q.n)));
      const sT = b.addInitializer(floatTensor(b.fresh(`${tag}_scales`), [q.n * blocks], part.scales));
      const y = parts.length === 1 && !l.bias ? finalOut : b.fresh(`${tag}_y`);
      replacement.push({
        opType: 'MatMulNBits',
        domain: 'com.microsoft',
        name: `${tag}_MatMulNBits`,
        input: [x, bT, sT],
        output: [y],
        attribute: [attrInt('K', part.indices.length), attrInt('N', q.n), attrInt('bits', part.bits), attrInt('block_size', part.blockSize), attrInt('accuracy_level', accuracyLevel)],
      });
      outputs.push(y);
    }
    let sum = outputs[0];
    if (outputs.length === 2) {
      sum = l.bias ? b.fresh(`${p}_sum`) : finalOut;
      replacement.push({ opType: 'Add', name: `${p}_Add`, input: outputs, output: [sum] });
    }
    if (l.bias) replacement.push({ opType: 'Add', name: `${p}_bias`, input: [sum, l.bias], output: [finalOut] });
    b.insertBefore(at, ...replacement);
    b.remove(at);
  }
  const eff = effectiveRatios(shapes, plan);
  b.setMetadata(
    'partita.quant',
    stableJson({
      format: 'flexiq',
      version: 1,
      grid: '8-bit symmetric per output channel; 4-bit = bit-lowered 8-bit codes',
      rounding,
      accuracyLevel,
      macShare4: eff.macShare,
      layers: plan.layers.map((lp, i) => ({ ...eff.layers[i], ratio: lp.ratio, lowChannels: lp.lowChannels })),
    }),
  );
  b.useDomain('com.microsoft', 1);
  return b.build();
}
