import type { ModelGraph } from './graph.js';

/**
 * For every cut position c in 0..L (layers 1..c on the device, c+1..L on the server) the tensors that cross it:
 * produced at or before c (graph inputs count as produced at 0) and read after c or returned as a graph output.
 * Weights never cross: they travel with the side that consumes them. With skip connections a cut crosses several
 * tensors; c = 0 is the model input (full offload), c = L the graph outputs (device only).
 */
export function cutSets(graph: ModelGraph): string[][] {
  const L = graph.layers.length;
  const sets: string[][] = Array.from({ length: L + 1 }, () => []);
  for (const t of graph.tensors.values()) {
    if (t.kind === 'weight' || t.producer === null) continue;
    const lastUse = t.isGraphOutput ? L + 1 : t.consumers.length > 0 ? t.consumers[t.consumers.length - 1] : t.producer;
    for (let c = t.producer; c < lastUse && c <= L; c++) sets[c].push(t.name);
  }
  return sets;
}
