import { CoreError } from '../api/errors.js';
import type { Plan } from '../api/planning.js';
import { bytesPerElementOf, elementTypeCode, elementTypeName } from '../onnx/elementTypes.js';
import { onnx } from '../onnx/generated/onnxProto.js';
import { buildGraph, type ModelGraph } from '../onnx/graph.js';
import { encodeModel, int64ToNumber } from '../onnx/modelCodec.js';
import { withLayerNames } from '../onnx/modelEdit.js';
import { PARTITION_METADATA_KEY, splitModel, valueInfoOf, type TensorTypeInfo } from '../onnx/partition.js';
import { attrFloat, attrInt, scalarFloat, uint8Tensor } from '../onnx/tensorBuilders.js';
import { activationQParams } from '../quant/calibration.js';
import { writeMatMulNBitsModel } from '../quant/matMulNBitsWriter.js';
import { writeQdqModel } from '../quant/qdqWriter.js';
import { defaultQuantConfig, LAYER_BITS, type LayerBits, type QuantConfig } from '../quant/quantConfig.js';
import { outputRangeTensor, quantizableLayers, type QuantizableLayer } from '../quant/quantizableLayers.js';
import { ROUNDING_MAGIC, weightSpec, writeSimulationModel } from '../quant/simulationWriter.js';
import { groupCountOf, groupShapeFor } from '../quant/weightQuant.js';

/**
 * The two runnable halves of a plan (QPART): the head the device downloads and runs, the tail the server runs.
 *
 * Head weights, three forms (`format`):
 * - 'simulation' (default): a float model computing exactly what the quantized head computes, at any width the
 *   plan may pick (2..8 bit, FP16). Always valid; its file stores the dequantized weights in FP32, so its size is not
 *   what a device would download — `headWeightBytes` gives the packed size of the same weights.
 * - 'qdq': ONNX Runtime's deployable INT8 form (int8 weights, uint8 activations inside the head). Every quantized
 *   head layer must be at 8 bit, and the head layers' activations need calibrated ranges (partitionRangeTensors).
 * - 'matmul-nbits': 2/4/8-bit Gemm/MatMul weights as com.microsoft MatMulNBits; other layers must stay FP32.
 * Weight dequantization stays on the consuming side: the split happens before quantization, so each half holds
 * only the weights its own layers read, and no weight ever crosses the cut.
 *
 * The link: the head's outputs are what goes on the wire. Below 16 bits, every float cut tensor leaves the head as
 * uint8 codes, q = clamp(round(x / s) + zp, 0, 2^b - 1), with s and zp from the calibrated range (activationQParams,
 * asymmetric); the tail starts with the matching DequantizeLinear. At 8 bits on opset >= 10 these are ONNX
 * QuantizeLinear / DequantizeLinear; below 8 bits (and on opset 9, which has neither op) the head computes the
 * codes with Div, a float32 round-half-even, Add, Clip and Cast, which is the same arithmetic. Codes narrower than
 * 8 bits are packed on the wire by the frame codec (`WireTensor.bits`). At 16 bits the head casts to float16 and
 * the tail back. Non-float tensors (shape data) always cross as they are.
 */
export type PartitionFormat = 'simulation' | 'qdq' | 'matmul-nbits';

export type PartitionPlan = Pick<Plan, 'cut' | 'bits' | 'activationBits'>;

export interface PartitionOptions {
  format?: PartitionFormat;
  /** Weight quantizer settings (default: symmetric, per channel, no clipping; blocks for matmul-nbits). */
  weights?: Partial<Pick<QuantConfig['weights'], 'symmetric' | 'granularity' | 'blockSize' | 'clipping' | 'reduceRange'>>;
  /** Calibrated ranges by tensor name; which tensors need one: partitionRangeTensors. */
  ranges?: Record<string, { min: number; max: number }>;
}

/** One tensor on the wire. */
export interface WireTensor {
  /** Name on the wire: the head's output and the tail's input of that name. */
  name: string;
  /** The model tensor it carries. */
  tensor: string;
  /** How it is carried: as it is, as float16, or as uint8 quantization codes. */
  encoding: 'raw' | 'float16' | 'codes';
  /** Element type of the head output / tail input ('uint8' for codes). */
  dataType: string;
  /** Significant bits per element on the wire (codes narrower than 8 bits are packed to this width). */
  bits: number;
  /** Codes only: x = (q - zeroPoint) * scale. */
  scale?: number;
  zeroPoint?: number;
  /** Elements at the probed input shape (null when no shape was given). */
  elements: number | null;
}

export interface Partitions {
  cut: number;
  /** L, the number of layers of the whole model. */
  layers: number;
  format: PartitionFormat;
  /** Serialized head (null when nothing runs on the device: cut 0 with a float link). */
  headBytes: Uint8Array | null;
  /** Serialized tail (null for cut = L). */
  tailBytes: Uint8Array | null;
  head: onnx.IModelProto | null;
  tail: onnx.IModelProto | null;
  /** Model tensors crossing the cut (cutSets(graph)[cut]). */
  cutTensors: string[];
  /** What actually goes on the wire, one entry per cut tensor in the same order. Empty for cut = L. */
  wire: WireTensor[];
  /** Names of the head's outputs, i.e. wire names (for cut = L, the graph outputs). */
  headOutputs: string[];
  /** The weight configuration of the head layers (metadata 'partita.quant' of the head says the same). */
  config: QuantConfig;
  /** Packed bytes of the head's weights (codes + scales + zero points; FP32/FP16 weights at 4/2 bytes). */
  headWeightBytes: number;
  /** Payload bytes of one request's wire tensors at the probed shapes (packed codes; no frame header); null without shapes. */
  uplinkPayloadBytes: number | null;
}

const T = onnx.TensorProto.DataType;
/** Metadata key of both halves: the wire tensors as JSON (WireTensor without `elements`). */
export const LINK_METADATA_KEY = 'partita.link';

/**
 * Builds head and tail for a plan. `shapes` (from probeShapes) gives the element types of the cut tensors the model
 * does not declare, and the per-request wire size; pass the shapes of one request (batch 1).
 */
export function buildPartitions(
  model: onnx.IModelProto,
  graph: ModelGraph,
  plan: PartitionPlan,
  options: PartitionOptions = {},
  shapes?: ReadonlyMap<string, TensorTypeInfo>,
): Partitions {
  const format = options.format ?? 'simulation';
  const L = graph.layers.length;
  const qLayers = checkPlan(model, graph, plan, format);
  const config = headConfig(graph, qLayers, plan, options, format);
  const split = splitModel(model, graph, plan.cut, shapes);
  const names = new NameSource(model);

  // Head weights: the split comes first, so the writer only ever sees (and ships) the head's own weights.
  let head = split.head;
  const headGraph = head ? buildGraph(head, 'head') : null;
  if (head && headGraph && Object.keys(config.weights.layers).length > 0) {
    head = format === 'simulation' ? writeSimulationModel(head, headGraph, config) : format === 'qdq' ? writeQdqModel(head, headGraph, config) : writeMatMulNBitsModel(head, headGraph, config);
    names.addModel(head);
  }

  const wire = plan.cut < L ? wireTensors(model, graph, split.cutTensors, plan.activationBits ?? 32, options.ranges ?? {}, shapes, names) : [];
  const linked = wire.some((w) => w.encoding !== 'raw');
  const defaultOpset = graph.opsets[''] ?? 13;

  if (linked) {
    // cut 0 with a quantized link: the device still quantizes the input, so the head is the link's nodes alone.
    head ??= linkOnlyHead(model, split.cutTensors, L);
    head = withLinkEncode(head, wire, opsetOf(head, defaultOpset));
  }
  let tail = split.tail;
  if (tail && linked) tail = withLinkDecode(tail, wire, opsetOf(tail, defaultOpset));
  // Both halves say how the link encodes each tensor, so a device agent can pack and check frames on its own.
  if (wire.length) {
    const link = JSON.stringify(wire.map(({ elements: _elements, ...w }) => w));
    if (head) head = withMetadata(head, LINK_METADATA_KEY, link);
    if (tail) tail = withMetadata(tail, LINK_METADATA_KEY, link);
  }

  const headOutputs = (head?.graph?.output ?? []).map((o) => o.name ?? '');
  const uplinkPayloadBytes = shapes && wire.every((w) => w.elements !== null) ? wire.reduce((a, w) => a + Math.ceil(((w.elements ?? 0) * w.bits) / 8), 0) : null;
  return {
    cut: plan.cut,
    layers: L,
    format,
    headBytes: head ? encodeModel(head) : null,
    tailBytes: tail ? encodeModel(tail) : null,
    head,
    tail,
    cutTensors: split.cutTensors,
    wire,
    headOutputs,
    config,
    headWeightBytes: headWeightBytes(headGraph, graph, qLayers, config),
    uplinkPayloadBytes,
  };
}

/**
 * Tensors that need a calibrated range for this plan: every float cut tensor when the link is below 16 bits, and
 * for the 'qdq' format the inputs and outputs of the quantized head layers.
 */
export function partitionRangeTensors(model: onnx.IModelProto, graph: ModelGraph, plan: PartitionPlan, format: PartitionFormat = 'simulation', shapes?: ReadonlyMap<string, TensorTypeInfo>): string[] {
  const out = new Set<string>();
  const L = graph.layers.length;
  if (plan.cut < L && plan.activationBits !== null && plan.activationBits < 16) {
    const cut = splitModel(model, graph, plan.cut, shapes).cutTensors;
    for (const x of cut) if (isFloat32(model, x, shapes)) out.add(x);
  }
  if (format === 'qdq') {
    for (const l of quantizableLayers(model, graph)) {
      if (l.position <= plan.cut && plan.bits[l.position - 1] !== 32) {
        out.add(l.activation);
        out.add(outputRangeTensor(graph, l));
      }
    }
  }
  return [...out];
}

/**
 * The whole model a plan computes, as one float model (simulation form): head layers with their weights quantized
 * as planned, tail layers FP32, and every cut tensor fake-quantized (or rounded to float16) where the tail reads it,
 * with the same scale and zero point as the link. Head then tail must reproduce its outputs bit for bit at
 * graphOptimizationLevel 'disabled'; the outputs keep the source's order (a graph output that crosses a quantized
 * link is returned under a new name).
 */
export function writePlanReference(
  model: onnx.IModelProto,
  graph: ModelGraph,
  plan: PartitionPlan,
  options: PartitionOptions = {},
  shapes?: ReadonlyMap<string, TensorTypeInfo>,
): onnx.IModelProto {
  if ((options.format ?? 'simulation') !== 'simulation') throw new Error('writePlanReference models the simulation form only');
  const qLayers = checkPlan(model, graph, plan, 'simulation');
  const config = headConfig(graph, qLayers, plan, options, 'simulation');
  const named = withLayerNames(model, graph);
  const sim = Object.keys(config.weights.layers).length > 0 ? writeSimulationModel(named, graph, config) : named;
  const L = graph.layers.length;
  if (plan.cut === L) return sim;
  const names = new NameSource(sim);
  const cutTensors = splitModel(model, graph, plan.cut, shapes).cutTensors;
  const wire = wireTensors(model, graph, cutTensors, plan.activationBits ?? 32, options.ranges ?? {}, shapes, names);
  const g = sim.graph!;
  const tailNames = new Set(graph.layers.slice(plan.cut).map((l) => l.name));
  const rename = new Map<string, string>();
  const nodes: onnx.INodeProto[] = [];
  const initializers: onnx.ITensorProto[] = [];
  for (const w of wire) {
    if (w.encoding === 'raw') continue;
    const xq = names.fresh(`${w.tensor}__ref`);
    rename.set(w.tensor, xq);
    if (w.encoding === 'float16') {
      nodes.push(
        { opType: 'Cast', name: `${xq}_to_f16`, input: [w.tensor], output: [`${xq}_f16`], attribute: [attrInt('to', T.FLOAT16)] },
        { opType: 'Cast', name: `${xq}_to_f32`, input: [`${xq}_f16`], output: [xq], attribute: [attrInt('to', T.FLOAT)] },
      );
      continue;
    }
    // The simulation writer's fake quantization: clip(round(x / s), -zp, qmax - zp) * s.
    const qmax = 2 ** w.bits - 1;
    initializers.push(scalarFloat(`${xq}_scale`, w.scale!), scalarFloat(`${xq}_magic`, ROUNDING_MAGIC));
    nodes.push(
      { opType: 'Div', name: `${xq}_div`, input: [w.tensor, `${xq}_scale`], output: [`${xq}_d`] },
      { opType: 'Add', name: `${xq}_rnd_add`, input: [`${xq}_d`, `${xq}_magic`], output: [`${xq}_a`] },
      { opType: 'Sub', name: `${xq}_rnd_sub`, input: [`${xq}_a`, `${xq}_magic`], output: [`${xq}_r`] },
      clipNode(`${xq}_clip`, `${xq}_r`, `${xq}_c`, -w.zeroPoint!, qmax - w.zeroPoint!, opsetOf(sim, 13), initializers),
      { opType: 'Mul', name: `${xq}_mul`, input: [`${xq}_c`, `${xq}_scale`], output: [xq] },
    );
  }
  const all = g.node ?? [];
  const isTail = (n: onnx.INodeProto) => tailNames.has(n.name ?? '');
  const tail = all.filter(isTail).map((n) => ({ ...n, input: (n.input ?? []).map((x) => rename.get(x) ?? x) }));
  const output = (g.output ?? []).map((o) => (rename.has(o.name ?? '') ? onnx.ValueInfoProto.create({ name: rename.get(o.name ?? '') }) : o));
  return {
    ...sim,
    graph: { ...g, node: [...all.filter((n) => !isTail(n)), ...nodes, ...tail], initializer: [...(g.initializer ?? []), ...initializers], output },
  };
}

/** Validates the plan against the model and returns its quantizable layers. */
function checkPlan(model: onnx.IModelProto, graph: ModelGraph, plan: PartitionPlan, format: PartitionFormat): QuantizableLayer[] {
  const L = graph.layers.length;
  if (!Number.isInteger(plan.cut) || plan.cut < 0 || plan.cut > L) {
    throw new CoreError('plan-invalid', `The plan cuts after layer ${plan.cut}, but the model has layers 1..${L}. Use a cut between 0 and ${L}.`);
  }
  if (plan.bits.length !== plan.cut) {
    throw new CoreError('plan-invalid', `The plan gives ${plan.bits.length} bit widths for a head of ${plan.cut} layers. Give one width per head layer.`);
  }
  if (plan.cut < L && (plan.activationBits === null || ![32, 16, 8, 6, 5, 4, 3, 2].includes(plan.activationBits))) {
    throw new CoreError('plan-invalid', `A cut after layer ${plan.cut} < L = ${L} needs activation bits 32, 16, 8, 6, 5, 4, 3 or 2 for the link, not ${String(plan.activationBits)}.`);
  }
  const qLayers = quantizableLayers(model, graph);
  const byPosition = new Map(qLayers.map((l) => [l.position, l]));
  plan.bits.forEach((b, i) => {
    const layer = graph.layers[i];
    if (!(LAYER_BITS as readonly number[]).includes(b)) {
      throw new CoreError('plan-invalid', `Layer '${layer.name}' is planned at ${b} bits. Use 32, 16, 8, 6, 5, 4, 3 or 2.`);
    }
    const q = byPosition.get(i + 1);
    if (b !== 32 && !q) throw new CoreError('plan-invalid', `Layer '${layer.name}' (${layer.opType}) has no quantizable weight but is planned at ${b} bits. Keep it at 32.`);
    if (b === 32 || !q) return;
    if (format === 'qdq' && b !== 8) {
      throw new CoreError('quant-not-deployable', `Layer '${layer.name}' is planned at ${b} bits; the qdq format runs 8 bit only. Use the simulation format for ${b} bit.`);
    }
    if (format === 'matmul-nbits' && (!(q.opType === 'Gemm' || q.opType === 'MatMul') || ![2, 4, 8].includes(b))) {
      throw new CoreError(
        'quant-not-deployable',
        `Layer '${layer.name}' (${q.opType}) is planned at ${b} bits; the matmul-nbits format runs Gemm/MatMul at 2, 4 or 8 bit only. Use the simulation format.`,
      );
    }
  });
  return qLayers;
}

function headConfig(graph: ModelGraph, qLayers: readonly QuantizableLayer[], plan: PartitionPlan, options: PartitionOptions, format: PartitionFormat): QuantConfig {
  const cfg = defaultQuantConfig(32, 32);
  cfg.weights = { ...cfg.weights, granularity: format === 'matmul-nbits' ? 'block' : 'channel', ...options.weights, default: 32, layers: {} };
  for (const l of qLayers) {
    if (l.position > plan.cut) break;
    const b = plan.bits[l.position - 1];
    if (b !== 32) cfg.weights.layers[l.name] = b as LayerBits;
  }
  // Only the ranges the head's writer reads go into its config (and so into its 'partita.quant' metadata): the
  // head's bytes must not depend on how many other tensors the caller happened to calibrate.
  if (format === 'qdq') {
    const all = options.ranges ?? {};
    for (const l of qLayers) {
      if (cfg.weights.layers[l.name] === undefined) continue;
      for (const t of [l.activation, outputRangeTensor(graph, l)]) if (all[t]) cfg.activations.ranges[t] = all[t];
    }
  }
  return cfg;
}

/** How each cut tensor crosses the link. */
function wireTensors(
  model: onnx.IModelProto,
  graph: ModelGraph,
  cutTensors: readonly string[],
  activationBits: number,
  ranges: Record<string, { min: number; max: number }>,
  shapes: ReadonlyMap<string, TensorTypeInfo> | undefined,
  names: NameSource,
): WireTensor[] {
  return cutTensors.map((x) => {
    const dataType = typeOf(model, x, shapes);
    const dims = shapes?.get(x)?.dims;
    const elements = dims ? dims.reduce((a, b) => a * b, 1) : null;
    const perElement = dataType === null ? 4 : bytesPerElementOf(dataType);
    const rawBits = Number.isFinite(perElement) ? Math.max(1, Math.round(perElement * 8)) : 32;
    if (activationBits >= 32 || dataType !== 'float32') {
      if (activationBits < 32 && dataType === null) {
        throw new CoreError('partition-type-unknown', `Tensor '${x}' crosses the cut but its element type is unknown. Pass the shapes from probeShapes so the link knows whether to quantize it.`);
      }
      return { name: x, tensor: x, encoding: 'raw', dataType: dataType ?? 'float32', bits: rawBits, elements };
    }
    if (activationBits === 16) return { name: names.fresh(`${x}__f16`), tensor: x, encoding: 'float16', dataType: 'float16', bits: 16, elements };
    const range = ranges[x];
    if (!range) {
      const layer = graph.layers.find((l) => l.outputs.includes(x))?.name ?? 'the input';
      throw new CoreError(
        'quant-not-calibrated',
        `Cut tensor '${x}' (output of ${layer}) has no calibrated range, so it cannot be sent at ${activationBits} bits. Calibrate the tensors partitionRangeTensors lists, or send 16 or 32 bit.`,
      );
    }
    const { scale, zeroPoint } = activationQParams(range, activationBits, false);
    return { name: names.fresh(`${x}__q${activationBits}`), tensor: x, encoding: 'codes', dataType: 'uint8', bits: activationBits, scale, zeroPoint, elements };
  });
}

/** Appends the link encoding to the head: its outputs become the wire tensors. */
function withLinkEncode(head: onnx.IModelProto, wire: readonly WireTensor[], opset: number): onnx.IModelProto {
  const g = head.graph!;
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  const byTensor = new Map(wire.map((w) => [w.tensor, w]));
  for (const w of wire) {
    const x = w.tensor;
    const p = w.name;
    if (w.encoding === 'float16') {
      nodes.push({ opType: 'Cast', name: `${p}_cast`, input: [x], output: [p], attribute: [attrInt('to', T.FLOAT16)] });
    } else if (w.encoding === 'codes') {
      inits.push(scalarFloat(`${p}_scale`, w.scale!));
      if (w.bits === 8 && opset >= 10) {
        inits.push(uint8Tensor(`${p}_zp`, [], [w.zeroPoint!]));
        nodes.push({ opType: 'QuantizeLinear', name: `${p}_Q`, input: [x, `${p}_scale`, `${p}_zp`], output: [p] });
      } else {
        // clamp(round(x / s) + zp, 0, qmax), the same arithmetic as QuantizeLinear, at any width and opset.
        inits.push(scalarFloat(`${p}_magic`, ROUNDING_MAGIC), scalarFloat(`${p}_zpf`, w.zeroPoint!));
        nodes.push(
          { opType: 'Div', name: `${p}_div`, input: [x, `${p}_scale`], output: [`${p}_d`] },
          { opType: 'Add', name: `${p}_rnd_add`, input: [`${p}_d`, `${p}_magic`], output: [`${p}_a`] },
          { opType: 'Sub', name: `${p}_rnd_sub`, input: [`${p}_a`, `${p}_magic`], output: [`${p}_r`] },
          { opType: 'Add', name: `${p}_zp_add`, input: [`${p}_r`, `${p}_zpf`], output: [`${p}_z`] },
          clipNode(`${p}_clip`, `${p}_z`, `${p}_c`, 0, 2 ** w.bits - 1, opset, inits),
          { opType: 'Cast', name: `${p}_cast`, input: [`${p}_c`], output: [p], attribute: [attrInt('to', T.UINT8)] },
        );
      }
    }
  }
  const output = (g.output ?? []).map((o) => {
    const w = byTensor.get(o.name ?? '');
    return w && w.encoding !== 'raw' ? valueInfoOf(w.name, elementTypeCode(w.dataType)!) : o;
  });
  return { ...head, graph: { ...g, node: [...(g.node ?? []), ...nodes], initializer: [...(g.initializer ?? []), ...inits], output } };
}

/** Prepends the link decoding to the tail: it reads the wire tensors and restores the cut tensors' float values. */
function withLinkDecode(tail: onnx.IModelProto, wire: readonly WireTensor[], opset: number): onnx.IModelProto {
  const g = tail.graph!;
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  const byTensor = new Map(wire.map((w) => [w.tensor, w]));
  for (const w of wire) {
    const x = w.tensor;
    const p = w.name;
    if (w.encoding === 'float16') {
      nodes.push({ opType: 'Cast', name: `${p}_uncast`, input: [p], output: [x], attribute: [attrInt('to', T.FLOAT)] });
    } else if (w.encoding === 'codes') {
      inits.push(scalarFloat(`${p}_scale`, w.scale!));
      if (opset >= 10) {
        inits.push(uint8Tensor(`${p}_zp`, [], [w.zeroPoint!]));
        nodes.push({ opType: 'DequantizeLinear', name: `${p}_DQ`, input: [p, `${p}_scale`, `${p}_zp`], output: [x] });
      } else {
        inits.push(scalarFloat(`${p}_zpf`, w.zeroPoint!));
        nodes.push(
          { opType: 'Cast', name: `${p}_uncast`, input: [p], output: [`${p}_f`], attribute: [attrInt('to', T.FLOAT)] },
          { opType: 'Sub', name: `${p}_zp_sub`, input: [`${p}_f`, `${p}_zpf`], output: [`${p}_s`] },
          { opType: 'Mul', name: `${p}_mul`, input: [`${p}_s`, `${p}_scale`], output: [x] },
        );
      }
    }
  }
  const input = (g.input ?? []).map((v) => {
    const w = byTensor.get(v.name ?? '');
    if (!w || w.encoding === 'raw') return v;
    const dims = v.type?.tensorType?.shape?.dim;
    return { ...v, name: w.name, type: { tensorType: { elemType: elementTypeCode(w.dataType)!, shape: dims ? { dim: dims } : undefined } } };
  });
  return { ...tail, graph: { ...g, input, node: [...nodes, ...(g.node ?? [])], initializer: [...(g.initializer ?? []), ...inits] } };
}

/** Cut 0 with a quantized link: a head of no layers that only reads the inputs (the link nodes are added after). */
function linkOnlyHead(model: onnx.IModelProto, cutTensors: readonly string[], layers: number): onnx.IModelProto {
  const g = model.graph!;
  const input = cutTensors.map((x) => (g.input ?? []).find((v) => v.name === x) ?? onnx.ValueInfoProto.create({ name: x }));
  const head = {
    ...model,
    graph: { name: `${g.name ?? 'graph'}_link`, node: [], initializer: [], input, output: input.map((v) => onnx.ValueInfoProto.create({ name: v.name })) },
  };
  return withMetadata(head, PARTITION_METADATA_KEY, JSON.stringify({ side: 'head', cut: 0, layers }));
}

function withMetadata(m: onnx.IModelProto, key: string, value: string): onnx.IModelProto {
  return { ...m, metadataProps: [...(m.metadataProps ?? []).filter((p) => p.key !== key), { key, value }] };
}

function clipNode(name: string, input: string, output: string, lo: number, hi: number, opset: number, inits: onnx.ITensorProto[]): onnx.INodeProto {
  if (opset < 11) return { opType: 'Clip', name, input: [input], output: [output], attribute: [attrFloat('min', lo), attrFloat('max', hi)] };
  inits.push(scalarFloat(`${name}_lo`, lo), scalarFloat(`${name}_hi`, hi));
  return { opType: 'Clip', name, input: [input, `${name}_lo`, `${name}_hi`], output: [output] };
}

function opsetOf(m: onnx.IModelProto, dflt: number): number {
  const o = (m.opsetImport ?? []).find((x) => !x.domain || x.domain === 'ai.onnx');
  return o ? int64ToNumber(o.version) : dflt;
}

/** Element type of a tensor: declared in the model, else probed; null when neither says. */
function typeOf(model: onnx.IModelProto, name: string, shapes?: ReadonlyMap<string, TensorTypeInfo>): string | null {
  const g = model.graph!;
  const v = [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])].find((x) => x.name === name);
  const code = v?.type?.tensorType?.elemType;
  if (code) return elementTypeName(code);
  return shapes?.get(name)?.dataType ?? null;
}

function isFloat32(model: onnx.IModelProto, name: string, shapes?: ReadonlyMap<string, TensorTypeInfo>): boolean {
  return typeOf(model, name, shapes) === 'float32';
}

/** Packed bytes of the weights the head reads; quantized layers' main weights at their planned width. */
function headWeightBytes(headGraph: ModelGraph | null, graph: ModelGraph, qLayers: readonly QuantizableLayer[], cfg: QuantConfig): number {
  if (!headGraph) return 0;
  const quantized = new Map<string, number>();
  for (const l of qLayers) {
    const b = cfg.weights.layers[l.name];
    if (b === undefined || b === 32) continue;
    if (b === 16) {
      quantized.set(l.weight, l.weightElements * 2);
      continue;
    }
    const spec = weightSpec(cfg, l, b);
    const groups = groupCountOf(groupShapeFor(l.weightDims, spec));
    quantized.set(l.weight, Math.ceil((l.weightElements * b) / 8) + groups * 4 + (spec.symmetric ? 0 : Math.ceil((groups * b) / 8)));
  }
  let total = 0;
  for (const w of headGraph.weights.values()) total += quantized.get(w.name) ?? graph.weights.get(w.name)?.bytes ?? w.bytes;
  return total;
}

/** Fresh tensor and node names that collide with nothing in the given models. */
class NameSource {
  private readonly used = new Set<string>();
  constructor(model: onnx.IModelProto) {
    this.addModel(model);
  }
  addModel(m: onnx.IModelProto): void {
    const g = m.graph;
    if (!g) return;
    for (const n of g.node ?? []) {
      if (n.name) this.used.add(n.name);
      for (const o of n.output ?? []) this.used.add(o);
    }
    for (const t of g.initializer ?? []) this.used.add(t.name ?? '');
    for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) this.used.add(v.name ?? '');
  }
  /** A base name such that neither it nor its suffixed helpers (`_scale`, `_zp`, …) are taken. */
  fresh(base: string): string {
    const taken = (n: string) => this.used.has(n) || [...this.used].some((u) => u.startsWith(`${n}_`));
    let name = base;
    for (let i = 1; taken(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}
