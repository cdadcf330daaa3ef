import type { ModelGraph } from '../onnx/graph.js';
import type { onnx } from '../onnx/generated/onnxProto.js';
import { opCost, type CostModel } from './opCosts.js';

/** What one layer costs, independent of the machine: parameters, arithmetic, activation sizes. */
export interface LayerCost {
  position: number;
  name: string;
  opType: string;
  params: number;
  weightBytes: number;
  macs: number | null;
  flops: number | null;
  costModel: CostModel;
  outElements: number;
  outBytes: number;
}

export interface StaticProfile {
  layers: LayerCost[];
  totals: {
    layers: number;
    params: number;
    weightBytes: number;
    macs: number;
    flops: number;
    /** Op types that have no cost formula: their layers report null MACs/FLOPs. */
    opsWithoutFormula: string[];
  };
}

export interface ShapeInfo {
  dims: number[];
  bytes: number;
}

/**
 * Per-layer static costs from the graph and the concrete tensor shapes of one input size.
 * Weights shared by several layers count in each layer that reads them (a layer's quantization touches them all).
 */
export function staticProfile(model: onnx.IModelProto, graph: ModelGraph, shapes: Map<string, ShapeInfo>): StaticProfile {
  const nodes = model.graph?.node ?? [];
  const shapeOf = (name: string): number[] | undefined => shapes.get(name)?.dims ?? graph.weights.get(name)?.dims;
  const layers: LayerCost[] = graph.layers.map((l) => {
    const weights = l.weightInputs.map((w) => graph.weights.get(w)!);
    const cost = opCost(nodes[l.nodeIndex], shapeOf);
    const outs = l.outputs.filter(Boolean).map((o) => shapes.get(o));
    return {
      position: l.position,
      name: l.name,
      opType: l.opType,
      params: weights.reduce((a, w) => a + w.elementCount, 0),
      weightBytes: weights.reduce((a, w) => a + w.bytes, 0),
      macs: cost.macs,
      flops: cost.flops,
      costModel: cost.model,
      outElements: outs.reduce((a, s) => a + (s ? s.dims.reduce((x, y) => x * y, 1) : 0), 0),
      outBytes: outs.reduce((a, s) => a + (s?.bytes ?? 0), 0),
    };
  });
  const uniqueWeights = new Set(graph.layers.flatMap((l) => l.weightInputs));
  return {
    layers,
    totals: {
      layers: layers.length,
      params: [...uniqueWeights].reduce((a, w) => a + graph.weights.get(w)!.elementCount, 0),
      weightBytes: [...uniqueWeights].reduce((a, w) => a + graph.weights.get(w)!.bytes, 0),
      macs: layers.reduce((a, l) => a + (l.macs ?? 0), 0),
      flops: layers.reduce((a, l) => a + (l.flops ?? 0), 0),
      opsWithoutFormula: [...new Set(layers.filter((l) => l.costModel === 'none').map((l) => l.opType))].sort(),
    },
  };
}
