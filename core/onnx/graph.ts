import { CoreError } from '../api/errors.js';
import { onnx } from './generated/onnxProto.js';
import { isKnownOp } from './knownOps.js';
import { bytesPerElement, int64ToNumber } from './modelCodec.js';

/**
 * The graph IR every other module works on: compute layers in one topological order (positions 1..L),
 * tensors with their producer and consumers, and the weights (initializers and Constant-node values).
 *
 * Constant nodes are not layers: their value is a weight that travels with whichever side consumes it.
 */

export type TensorKind = 'input' | 'weight' | 'activation';

export interface TensorInfo {
  name: string;
  kind: TensorKind;
  /** Position (1..L) of the producing layer; 0 for graph inputs; null for weights. */
  producer: number | null;
  /** Positions of the layers that read it, ascending, without repeats. */
  consumers: number[];
  isGraphOutput: boolean;
}

export interface WeightInfo {
  name: string;
  dataType: number;
  dims: number[];
  elementCount: number;
  bytes: number;
  /** 'initializer' or 'constant' (the value of a Constant node). */
  origin: 'initializer' | 'constant';
}

export interface LayerNode {
  /** 1-based position in the topological order. */
  position: number;
  /** Unique name; generated as `<opType>_<index>` when the file has none or a duplicate. */
  name: string;
  opType: string;
  domain: string;
  /** Input tensor names as written ('' marks an omitted optional input). */
  inputs: string[];
  outputs: string[];
  /** Inputs that are weights (initializers or Constant values). */
  weightInputs: string[];
  /** Outer-scope tensors read inside this node's subgraphs (If/Loop/Scan bodies). */
  capturedInputs: string[];
  /** Index of the node in graph.node. */
  nodeIndex: number;
}

export interface ModelGraph {
  layers: LayerNode[];
  tensors: Map<string, TensorInfo>;
  weights: Map<string, WeightInfo>;
  /** Graph inputs that are fed at run time (initializer-backed inputs excluded). */
  inputs: string[];
  outputs: string[];
  /** Opset version per domain ('' is the default ONNX domain). */
  opsets: Record<string, number>;
}

/** Largest element count we accept for a single tensor: 2^34 elements (64 GiB of FP32) is absurd for a model. */
const MAX_TENSOR_ELEMENTS = 2 ** 34;

export function buildGraph(model: onnx.IModelProto, fileName = 'model'): ModelGraph {
  const graph = model.graph;
  if (!graph) {
    throw new CoreError('model-not-onnx', `Model '${fileName}' has no graph. Export the model again with its graph.`);
  }
  const opsets: Record<string, number> = {};
  for (const o of model.opsetImport ?? []) opsets[o.domain ?? ''] = int64ToNumber(o.version);
  if (opsets['ai.onnx'] !== undefined && opsets[''] === undefined) opsets[''] = opsets['ai.onnx'];

  const weights = new Map<string, WeightInfo>();
  const addWeight = (t: onnx.ITensorProto, name: string, origin: WeightInfo['origin']): void => {
    const dims = (t.dims ?? []).map((d) => checkedDim(d, name, fileName));
    const elementCount = dims.reduce((a, b) => a * b, 1);
    if (elementCount > MAX_TENSOR_ELEMENTS) {
      throw new CoreError(
        'model-bad-dimension',
        `Model '${fileName}' declares tensor '${name}' with ${elementCount} elements (dims [${dims.join(', ')}]), which no device can hold. The file is damaged or mis-exported; export it again.`,
      );
    }
    const dataType = t.dataType ?? 0;
    const stored = storedElementCount(t);
    if (stored !== null && stored !== elementCount) {
      throw new CoreError(
        'model-bad-dimension',
        `Model '${fileName}': tensor '${name}' declares dims [${dims.join(', ')}] (${elementCount} elements) but holds ${stored}. The file is damaged; export it again.`,
      );
    }
    weights.set(name, { name, dataType, dims, elementCount, bytes: Math.ceil(elementCount * bytesPerElement(dataType)), origin });
  };
  for (const t of graph.initializer ?? []) addWeight(t, t.name ?? '', 'initializer');

  const nodes = graph.node ?? [];
  const computeIdx: number[] = [];
  nodes.forEach((n, i) => {
    const opType = n.opType ?? '';
    const domain = n.domain ?? '';
    if (!isKnownOp(domain, opType) && !isLocalFunction(model, domain, opType)) {
      throw new CoreError(
        'model-unknown-op',
        `Model '${fileName}' uses operator '${domain ? domain + '.' : ''}${opType}' (node '${n.name ?? i}'), which is not an ONNX operator. Replace it with standard ops or export with a converter that supports it.`,
      );
    }
    if (opType === 'Constant' && (domain === '' || domain === 'ai.onnx')) {
      const out = n.output?.[0] ?? '';
      const valueAttr = n.attribute?.find((a) => a.name === 'value');
      if (valueAttr?.t) addWeight(valueAttr.t, out, 'constant');
      else weights.set(out, constantAttrWeight(n, out));
    } else {
      computeIdx.push(i);
    }
  });

  for (const vi of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) {
    for (const d of vi.type?.tensorType?.shape?.dim ?? []) {
      if (d.dimValue !== undefined && d.dimValue !== null) checkedDim(d.dimValue, vi.name ?? '', fileName);
    }
  }

  const graphInputs = (graph.input ?? []).map((v) => v.name ?? '').filter((n) => !weights.has(n));
  const graphOutputs = (graph.output ?? []).map((v) => v.name ?? '');
  const available = new Set<string>([...graphInputs, ...weights.keys()]);

  // Name every compute node uniquely: ORT's profiler and our tables key on node names.
  const usedNames = new Set<string>();
  const names = computeIdx.map((i, k) => {
    let name = nodes[i].name ?? '';
    if (!name || usedNames.has(name)) name = `${nodes[i].opType}_${k}`;
    while (usedNames.has(name)) name += '_';
    usedNames.add(name);
    return name;
  });

  const order = topologicalOrder(nodes, computeIdx, available, names, fileName);

  const layers: LayerNode[] = order.map((k, j) => {
    const n = nodes[computeIdx[k]];
    const inputs = [...(n.input ?? [])];
    const captured = [...capturedNames(n)];
    return {
      position: j + 1,
      name: names[k],
      opType: n.opType ?? '',
      domain: n.domain ?? '',
      inputs,
      outputs: [...(n.output ?? [])],
      weightInputs: inputs.filter((x) => x !== '' && weights.has(x)),
      capturedInputs: captured.filter((x) => !weights.has(x)),
      nodeIndex: computeIdx[k],
    };
  });

  const tensors = new Map<string, TensorInfo>();
  const ensure = (name: string, kind: TensorKind, producer: number | null): TensorInfo => {
    let t = tensors.get(name);
    if (!t) {
      t = { name, kind, producer, consumers: [], isGraphOutput: false };
      tensors.set(name, t);
    }
    return t;
  };
  for (const name of graphInputs) ensure(name, 'input', 0);
  for (const name of weights.keys()) ensure(name, 'weight', null);
  for (const l of layers) for (const o of l.outputs) if (o) ensure(o, 'activation', l.position);
  for (const l of layers) {
    for (const x of [...l.inputs, ...l.capturedInputs]) {
      if (!x) continue;
      const t = tensors.get(x)!;
      if (t.consumers[t.consumers.length - 1] !== l.position) t.consumers.push(l.position);
    }
  }
  for (const o of graphOutputs) {
    const t = tensors.get(o);
    if (!t) {
      throw new CoreError('model-dangling-tensor', `Model '${fileName}' lists output '${o}' that no node produces. Export the model again.`);
    }
    t.isGraphOutput = true;
  }

  return { layers, tensors, weights, inputs: graphInputs, outputs: graphOutputs, opsets };
}

/**
 * Kahn's algorithm that prefers the file's own order (smallest node index first), so a graph already in order keeps it.
 * Returns indices into `computeIdx`.
 */
function topologicalOrder(
  nodes: onnx.INodeProto[],
  computeIdx: number[],
  available: Set<string>,
  names: string[],
  fileName: string,
): number[] {
  const producerOf = new Map<string, number>();
  computeIdx.forEach((i, k) => {
    for (const o of nodes[i].output ?? []) if (o) producerOf.set(o, k);
  });
  const indegree = new Array<number>(computeIdx.length).fill(0);
  const dependents: number[][] = computeIdx.map(() => []);
  computeIdx.forEach((i, k) => {
    const deps = new Set<number>();
    for (const x of [...(nodes[i].input ?? []), ...capturedNames(nodes[i])]) {
      if (!x || available.has(x)) continue;
      const p = producerOf.get(x);
      if (p === undefined) {
        throw new CoreError(
          'model-dangling-tensor',
          `Model '${fileName}': node '${names[k]}' reads tensor '${x}', which no node, input or initializer provides. The file is incomplete; export it again.`,
        );
      }
      deps.add(p);
    }
    indegree[k] = deps.size;
    for (const p of deps) dependents[p].push(k);
  });
  const ready = new MinHeap();
  indegree.forEach((d, k) => d === 0 && ready.push(k));
  const order: number[] = [];
  while (ready.size > 0) {
    const k = ready.pop();
    order.push(k);
    for (const c of dependents[k]) if (--indegree[c] === 0) ready.push(c);
  }
  if (order.length < computeIdx.length) {
    const stuck = indegree.findIndex((d) => d > 0);
    throw new CoreError(
      'model-graph-cycle',
      `Model '${fileName}' has a cycle through node '${names[stuck]}': its graph is not a DAG. Export the model again (loops belong in a Loop node).`,
    );
  }
  return order;
}

/** Names read inside a node's subgraphs that the subgraph itself does not define (outer-scope captures). */
function capturedNames(node: onnx.INodeProto): Set<string> {
  const out = new Set<string>();
  for (const a of node.attribute ?? []) {
    for (const g of [a.g, ...(a.graphs ?? [])]) if (g) collectFree(g, out);
  }
  return out;
}

function collectFree(g: onnx.IGraphProto, out: Set<string>): void {
  const defined = new Set<string>([
    ...(g.input ?? []).map((v) => v.name ?? ''),
    ...(g.initializer ?? []).map((t) => t.name ?? ''),
  ]);
  for (const n of g.node ?? []) for (const o of n.output ?? []) defined.add(o);
  for (const n of g.node ?? []) {
    for (const x of n.input ?? []) if (x && !defined.has(x)) out.add(x);
    const inner = capturedNames(n);
    for (const x of inner) if (!defined.has(x)) out.add(x);
  }
  for (const o of g.output ?? []) if (o.name && !defined.has(o.name)) out.add(o.name);
}

function isLocalFunction(model: onnx.IModelProto, domain: string, opType: string): boolean {
  return (model.functions ?? []).some((f) => (f.domain ?? '') === domain && f.name === opType);
}

function checkedDim(d: Parameters<typeof int64ToNumber>[0], tensor: string, fileName: string): number {
  let v: number;
  try {
    v = int64ToNumber(d);
  } catch {
    v = Number.POSITIVE_INFINITY;
  }
  if (!(v >= 0) || v > MAX_TENSOR_ELEMENTS) {
    throw new CoreError(
      'model-bad-dimension',
      `Model '${fileName}' declares dimension ${String(d)} for tensor '${tensor}'; dimensions must be between 0 and ${MAX_TENSOR_ELEMENTS}. The file is damaged or mis-exported; export it again.`,
    );
  }
  return v;
}

/** Constant nodes may carry value_float(s)/value_int(s) instead of a tensor. */
function constantAttrWeight(n: onnx.INodeProto, name: string): WeightInfo {
  const a = n.attribute?.[0];
  const T = onnx.TensorProto.DataType;
  let dataType: number = T.FLOAT;
  let dims: number[] = [];
  if (a?.name === 'value_floats') dims = [a.floats?.length ?? 0];
  else if (a?.name === 'value_int') dataType = T.INT64;
  else if (a?.name === 'value_ints') {
    dataType = T.INT64;
    dims = [a.ints?.length ?? 0];
  } else if (a?.name === 'value_string') dataType = T.STRING;
  else if (a?.name === 'value_strings') {
    dataType = T.STRING;
    dims = [a.strings?.length ?? 0];
  }
  const elementCount = dims.reduce((x, y) => x * y, 1);
  const per = bytesPerElement(dataType);
  return { name, dataType, dims, elementCount, bytes: Number.isNaN(per) ? 0 : Math.ceil(elementCount * per), origin: 'constant' };
}

/**
 * How many elements the tensor actually holds (from raw_data's length or the typed field), or null when that
 * cannot be told (external data not loaded yet, strings, sub-byte padding).
 */
function storedElementCount(t: onnx.ITensorProto): number | null {
  const per = bytesPerElement(t.dataType ?? 0);
  if (t.rawData && t.rawData.length > 0) return per >= 1 ? t.rawData.length / per : null;
  const typed = [t.floatData, t.int32Data, t.int64Data, t.doubleData, t.uint64Data, t.stringData].find((a) => a && a.length > 0);
  if (!typed) return null;
  // float16/bfloat16 and the 8-bit types are stored one element per int32 entry.
  return typed.length;
}

/** A binary heap of small integers; keeps the topological sort O(n log n). */
class MinHeap {
  private a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(x: number): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= a[i]) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): number {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l] < a[m]) m = l;
        if (r < a.length && a[r] < a[m]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}
