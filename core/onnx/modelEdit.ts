import { onnx } from './generated/onnxProto.js';
import { elementTypeName } from './elementTypes.js';
import { int64ToNumber } from './modelCodec.js';
import type { ModelGraph } from './graph.js';

/**
 * Small, copy-on-write edits of a ModelProto. The input model is never mutated: the copies share tensors with it,
 * which keeps them cheap for 10 MB models.
 */

/** Gives every compute node the unique name the graph IR assigned (ORT's profiler and our tables key on it). */
export function withLayerNames(model: onnx.IModelProto, graph: ModelGraph): onnx.IModelProto {
  const g = model.graph!;
  const node = [...(g.node ?? [])];
  let changed = false;
  for (const l of graph.layers) {
    if (node[l.nodeIndex].name !== l.name) {
      node[l.nodeIndex] = { ...node[l.nodeIndex], name: l.name };
      changed = true;
    }
  }
  return changed ? { ...model, graph: { ...g, node } } : model;
}

/** Adds graph outputs (name only; the runtime infers type and shape) so a run returns these intermediate tensors. */
export function withExtraOutputs(model: onnx.IModelProto, names: readonly string[]): onnx.IModelProto {
  const g = model.graph!;
  const have = new Set((g.output ?? []).map((o) => o.name));
  const extra = names.filter((n) => !have.has(n)).map((name) => onnx.ValueInfoProto.create({ name }));
  return { ...model, graph: { ...g, output: [...(g.output ?? []), ...extra] } };
}

/** A graph input or output as declared: dims are numbers, or names for symbolic (dynamic) axes. */
export interface DeclaredValue {
  name: string;
  dataType: string;
  dims: (number | string)[];
}

export function declaredValues(model: onnx.IModelProto, names: readonly string[]): DeclaredValue[] {
  const all = [...(model.graph?.input ?? []), ...(model.graph?.output ?? []), ...(model.graph?.valueInfo ?? [])];
  return names.map((name) => {
    const vi = all.find((v) => v.name === name);
    const tt = vi?.type?.tensorType;
    const dims = (tt?.shape?.dim ?? []).map((d, i) =>
      d.dimValue !== undefined && d.dimValue !== null && int64ToNumber(d.dimValue) > 0 ? int64ToNumber(d.dimValue) : d.dimParam || `d${i}`,
    );
    return { name, dataType: elementTypeName(tt?.elemType ?? 0), dims };
  });
}

/** The TensorProto behind a weight: an initializer, or the `value` of the Constant node that produces it. */
export function weightTensor(model: onnx.IModelProto, name: string): onnx.ITensorProto {
  const g = model.graph!;
  const init = (g.initializer ?? []).find((t) => t.name === name);
  if (init) return init;
  const node = (g.node ?? []).find((n) => n.opType === 'Constant' && n.output?.[0] === name);
  const t = node?.attribute?.find((a) => a.name === 'value')?.t;
  if (!t) throw new Error(`weight '${name}' is neither an initializer nor a Constant with a tensor value`);
  return t;
}
