import { CoreError } from '../api/errors.js';
import { cutSets } from './cutSets.js';
import { elementTypeCode } from './elementTypes.js';
import { onnx } from './generated/onnxProto.js';
import type { LayerNode, ModelGraph } from './graph.js';
import { int64ToNumber } from './modelCodec.js';

/** Element type and concrete dims of a tensor, as core/run/shapeProbe.ts probeShapes reports them. */
export interface TensorTypeInfo {
  /** ORT / numpy name: 'float32', 'int64', … */
  dataType: string;
  dims: readonly number[];
}

export interface SplitModel {
  /** Layers 1..cut, reading the graph inputs and returning the cut set; null for cut = 0 (nothing runs on the device). */
  head: onnx.IModelProto | null;
  /** Layers cut+1..L, reading the cut set and returning the graph outputs; null for cut = L (nothing runs on the server). */
  tail: onnx.IModelProto | null;
  /** The tensors crossing the cut (cutSets(graph)[cut]): the head's outputs and the tail's inputs, in that order. */
  cutTensors: string[];
}

/** Metadata key recording which side of which cut a model is. */
export const PARTITION_METADATA_KEY = 'partita.partition';

/**
 * Splits a model at cut c (QPART: layers 1..c on the device, c+1..L on the server).
 *
 * - head: layers 1..c in topological order, with the graph inputs it needs (its layers' inputs, plus any graph input
 *   that itself crosses the cut) and the cut set as outputs (types left to the runtime unless value_info has them).
 *   At c = L its outputs are the original graph outputs, declared as in the source.
 * - tail: layers c+1..L, with the cut set as inputs and the original graph outputs. A graph input needs an element
 *   type: taken from the source's input / output / value_info declarations, else from `shapes`; with neither the
 *   split fails with 'partition-type-unknown'. Dims come along only when every source input is static, because
 *   shapes probed at one input size must not freeze a model that accepts others.
 * - Each side keeps only the weights its own nodes read (initializers and Constant nodes, including names read
 *   inside If/Loop/Scan bodies), so no weight crosses the cut; a weight read on both sides is in both.
 * - Nodes keep their names; nodes the file left unnamed get the graph IR's name, so layer names agree between the
 *   whole model and both sides. Opset, IR version, producer, functions and metadata are copied.
 *
 * The source model is not mutated; both sides share tensor data with it.
 */
export function splitModel(
  model: onnx.IModelProto,
  graph: ModelGraph,
  cut: number,
  shapes?: ReadonlyMap<string, TensorTypeInfo>,
): SplitModel {
  const L = graph.layers.length;
  if (!Number.isInteger(cut) || cut < 0 || cut > L) {
    throw new CoreError('partition-cut-invalid', `Cut ${cut} is outside 0..${L} for this model. Pick a cut between 0 (full offload) and ${L} (device only).`);
  }
  const cutTensors = cutSets(graph)[cut];
  const g = model.graph!;
  const declared = new Map<string, onnx.IValueInfoProto>();
  // Later declarations win: a graph input's or output's own declaration beats value_info.
  for (const v of [...(g.valueInfo ?? []), ...(g.output ?? []), ...(g.input ?? [])]) if (v.name) declared.set(v.name, v);
  const staticModel = graph.inputs.every((name) => isStatic(declared.get(name)));

  const headLayers = graph.layers.slice(0, cut);
  const tailLayers = graph.layers.slice(cut);

  let head: onnx.IModelProto | null = null;
  if (cut > 0) {
    const reads = readsOf(model, headLayers);
    const inputs = graph.inputs.filter((n) => reads.has(n) || cutTensors.includes(n));
    const outputs = cut === L ? [...(g.output ?? [])] : cutTensors.map((n) => declared.get(n) ?? onnx.ValueInfoProto.create({ name: n }));
    head = side(model, headLayers, inputs.map((n) => declared.get(n) ?? onnx.ValueInfoProto.create({ name: n })), outputs, { side: 'head', cut, layers: L });
  }

  let tail: onnx.IModelProto | null = null;
  if (cut < L) {
    const inputs = cutTensors.map((name) => tailInput(name, declared.get(name), shapes?.get(name), staticModel));
    tail = side(model, tailLayers, inputs, [...(g.output ?? [])], { side: 'tail', cut, layers: L });
  }
  return { head, tail, cutTensors };
}

function side(
  model: onnx.IModelProto,
  layers: readonly LayerNode[],
  inputs: onnx.IValueInfoProto[],
  outputs: onnx.IValueInfoProto[],
  tag: { side: 'head' | 'tail'; cut: number; layers: number },
): onnx.IModelProto {
  const g = model.graph!;
  const nodes = g.node ?? [];
  const reads = readsOf(model, layers);
  for (const o of outputs) if (o.name) reads.add(o.name);
  const inputNames = new Set(inputs.map((v) => v.name ?? ''));
  const outputNames = new Set(outputs.map((v) => v.name ?? ''));

  // Constant nodes (weights) first, in file order: they read nothing, so any position before their readers is valid.
  const constants = nodes.filter((n) => isConstantNode(n) && (n.output ?? []).some((o) => reads.has(o) && !inputNames.has(o)));
  const compute = layers.map((l) => (nodes[l.nodeIndex].name === l.name ? nodes[l.nodeIndex] : { ...nodes[l.nodeIndex], name: l.name }));
  const initializer = (g.initializer ?? []).filter((t) => reads.has(t.name ?? '') && !inputNames.has(t.name ?? ''));
  const sparseInitializer = (g.sparseInitializer ?? []).filter((t) => reads.has(t.values?.name ?? ''));
  const kept = new Set([...initializer.map((t) => t.name ?? ''), ...sparseInitializer.map((t) => t.values?.name ?? '')]);
  // Old exporters list initializers among the graph inputs (overridable defaults); keep that for the ones this side holds.
  const initializerInputs = (g.input ?? []).filter((v) => kept.has(v.name ?? '') && !inputNames.has(v.name ?? ''));

  const present = new Set<string>(reads);
  for (const n of compute) for (const o of n.output ?? []) if (o) present.add(o);
  const valueInfo = (g.valueInfo ?? []).filter((v) => present.has(v.name ?? '') && !inputNames.has(v.name ?? '') && !outputNames.has(v.name ?? ''));
  const quantizationAnnotation = (g.quantizationAnnotation ?? []).filter((a) => present.has(a.tensorName ?? ''));

  const metadataProps = [
    ...(model.metadataProps ?? []).filter((p) => p.key !== PARTITION_METADATA_KEY),
    { key: PARTITION_METADATA_KEY, value: JSON.stringify(tag) },
  ];
  return {
    ...model,
    metadataProps,
    graph: {
      ...g,
      node: [...constants, ...compute],
      initializer,
      sparseInitializer,
      input: [...inputs, ...initializerInputs],
      output: outputs,
      valueInfo,
      quantizationAnnotation,
    },
  };
}

/** The declaration of a tail input: the source's own, else a tensor type from the probed shapes. */
function tailInput(name: string, declared: onnx.IValueInfoProto | undefined, probed: TensorTypeInfo | undefined, staticModel: boolean): onnx.IValueInfoProto {
  const tt = declared?.type?.tensorType;
  if (declared && tt?.elemType) return declared;
  if (!probed) {
    throw new CoreError(
      'partition-type-unknown',
      `Tensor '${name}' crosses the cut but the model declares no type for it. Pass the shapes from probeShapes (core/run/shapeProbe.ts) to splitModel.`,
    );
  }
  const elemType = elementTypeCode(probed.dataType);
  if (elemType === undefined) {
    throw new CoreError('partition-type-unknown', `Tensor '${name}' has element type '${probed.dataType}', which is not an ONNX type name. Pass shapes as probeShapes reports them.`);
  }
  return valueInfoOf(name, elemType, staticModel ? probed.dims : probed.dims.map(() => null));
}

/** A tensor declaration; a null dim is left unknown (neither value nor parameter). */
export function valueInfoOf(name: string, elemType: number, dims?: readonly (number | string | null)[]): onnx.IValueInfoProto {
  const shape = dims ? { dim: dims.map((d) => (d === null ? {} : typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } : undefined;
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape } } });
}

function isStatic(v: onnx.IValueInfoProto | undefined): boolean {
  const dims = v?.type?.tensorType?.shape?.dim;
  return !!dims && dims.every((d) => d.dimValue !== undefined && d.dimValue !== null && int64ToNumber(d.dimValue) > 0 && !d.dimParam);
}

function isConstantNode(n: onnx.INodeProto): boolean {
  return n.opType === 'Constant' && (!n.domain || n.domain === 'ai.onnx');
}

/** Every tensor name the layers read: node inputs and outer-scope names used inside their subgraphs. */
function readsOf(model: onnx.IModelProto, layers: readonly LayerNode[]): Set<string> {
  const nodes = model.graph?.node ?? [];
  const out = new Set<string>();
  for (const l of layers) {
    for (const x of nodes[l.nodeIndex].input ?? []) if (x) out.add(x);
    for (const x of freeNamesOfNode(nodes[l.nodeIndex])) out.add(x);
  }
  return out;
}

/** Names read inside a node's subgraphs that the subgraph does not define, weights included. */
function freeNamesOfNode(node: onnx.INodeProto): Set<string> {
  const out = new Set<string>();
  for (const a of node.attribute ?? []) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) freeNamesOfGraph(sub, out);
  return out;
}

function freeNamesOfGraph(g: onnx.IGraphProto, out: Set<string>): void {
  const defined = new Set<string>([...(g.input ?? []).map((v) => v.name ?? ''), ...(g.initializer ?? []).map((t) => t.name ?? '')]);
  for (const n of g.node ?? []) for (const o of n.output ?? []) defined.add(o);
  for (const n of g.node ?? []) {
    for (const x of n.input ?? []) if (x && !defined.has(x)) out.add(x);
    for (const x of freeNamesOfNode(n)) if (!defined.has(x)) out.add(x);
  }
  for (const o of g.output ?? []) if (o.name && !defined.has(o.name)) out.add(o.name);
}
