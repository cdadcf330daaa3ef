/**
 * Shared by the partition test files: loads a model once, then checks head → tail against the whole model at
 * given cuts, bit for bit at graphOptimizationLevel 'disabled':
 *  - FP32 plan (all 32 bit, float link) against the original model;
 *  - a mixed plan (weight widths cycling over 8/4/6/32/3/2/5/16 across the quantizable layers, link widths cycling
 *    over 8/4/16/6/2/32/3/5 across cuts) against writePlanReference, the whole model quantized the same way.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { cutSets } from '../../core/onnx/cutSets.js';
import { buildGraph, type ModelGraph } from '../../core/onnx/graph.js';
import type { onnx } from '../../core/onnx/generated/onnxProto.js';
import { decodeModel, encodeModel } from '../../core/onnx/modelCodec.js';
import { withExtraOutputs } from '../../core/onnx/modelEdit.js';
import { quantizableLayers } from '../../core/quant/quantizableLayers.js';
import { createSession, ort, seededTensor } from '../../core/run/ortSession.js';
import { buildPartitions, writePlanReference, type PartitionPlan } from '../../core/run/partitionBuilder.js';
import { probeShapes, type TensorShape } from '../../core/run/shapeProbe.js';
import { PARTITION_METADATA_KEY, splitModel } from '../../core/onnx/partition.js';

/** Small inputs for the PP-OCR models (session creation, not inference, dominates the per-cut cost). */
export const SMALL_INPUTS: Record<string, number[]> = { det: [1, 3, 64, 64], rec: [1, 3, 48, 96], cls: [1, 3, 48, 96] };

export const WEIGHT_CYCLE = [8, 4, 6, 32, 3, 2, 5, 16];
export const LINK_CYCLE = [8, 4, 16, 6, 2, 32, 3, 5];

export interface LoadedCase {
  name: string;
  proto: onnx.IModelProto;
  graph: ModelGraph;
  shapes: Map<string, TensorShape>;
  sets: string[][];
  input: string;
  x: ort.Tensor;
  /** Ranges of every float activation on `x`, shrunk by 10% so the link also clips. */
  ranges: Record<string, { min: number; max: number }>;
  fp32Output: Float32Array;
}

export async function loadCase(name: string, file: string, dims: number[]): Promise<LoadedCase> {
  const proto = decodeModel(readFileSync(file), name);
  const graph = buildGraph(proto, name);
  const input = graph.inputs[0];
  const shapes = await probeShapes(proto, graph, name, { [input]: dims });
  const x = seededTensor('float32', dims, 7);
  const all = [...new Set(graph.layers.flatMap((l) => l.outputs).filter(Boolean))];
  const s = await createSession(encodeModel(withExtraOutputs(proto, all)), name, { optimization: 'disabled' });
  const out = await s.run({ [input]: x });
  await s.release();
  const ranges: Record<string, { min: number; max: number }> = { [input]: rangeOf(x.data as Float32Array) };
  for (const [k, v] of Object.entries(out)) if (v.type === 'float32') ranges[k] = rangeOf(v.data as Float32Array);
  const fp32Output = Float32Array.from(out[graph.outputs[0]].data as Float32Array);
  return { name, proto, graph, shapes, sets: cutSets(graph), input, x, ranges, fp32Output };
}

function rangeOf(d: Float32Array): { min: number; max: number } {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of d) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return { min: lo * 0.9, max: hi * 0.9 };
}

export function fp32Plan(c: LoadedCase, cut: number): PartitionPlan {
  return { cut, bits: new Array(cut).fill(32), activationBits: cut === c.graph.layers.length ? null : 32 };
}

export function mixedPlan(c: LoadedCase, cut: number): PartitionPlan {
  const q = new Map(quantizableLayers(c.proto, c.graph).map((l, i) => [l.position, WEIGHT_CYCLE[i % WEIGHT_CYCLE.length]]));
  return { cut, bits: c.graph.layers.slice(0, cut).map((l) => q.get(l.position) ?? 32), activationBits: cut === c.graph.layers.length ? null : LINK_CYCLE[cut % LINK_CYCLE.length] };
}

async function runParts(c: LoadedCase, headBytes: Uint8Array | null, tailBytes: Uint8Array | null): Promise<Float32Array> {
  let feeds: Record<string, ort.Tensor> = { [c.input]: c.x };
  for (const bytes of [headBytes, tailBytes]) {
    if (!bytes) continue;
    const s = await createSession(bytes, c.name, { optimization: 'disabled' });
    try {
      feeds = (await s.run(feeds)) as Record<string, ort.Tensor>;
    } finally {
      await s.release();
    }
  }
  return feeds[c.graph.outputs[0]].data as Float32Array;
}

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** FP32 plan at `cut`: head then tail must equal the original model bit for bit. */
export async function checkFp32(c: LoadedCase, cut: number): Promise<boolean> {
  const p = buildPartitions(c.proto, c.graph, fp32Plan(c, cut), {}, c.shapes);
  return same(await runParts(c, p.headBytes, p.tailBytes), c.fp32Output);
}

/** Mixed plan at `cut`: head then tail must equal writePlanReference bit for bit. */
export async function checkMixed(c: LoadedCase, cut: number): Promise<boolean> {
  const plan = mixedPlan(c, cut);
  const p = buildPartitions(c.proto, c.graph, plan, { ranges: c.ranges }, c.shapes);
  const ref = writePlanReference(c.proto, c.graph, plan, { ranges: c.ranges }, c.shapes);
  const s = await createSession(encodeModel(ref), `${c.name}-reference`, { optimization: 'disabled' });
  let want: Float32Array;
  try {
    want = (await s.run({ [c.input]: c.x }))[s.outputNames[0]].data as Float32Array;
  } finally {
    await s.release();
  }
  return same(await runParts(c, p.headBytes, p.tailBytes), want);
}

/** Checks every listed cut and asserts none mismatched (the failing cuts are named in the assertion). */
export async function checkCuts(c: LoadedCase, cuts: readonly number[], check: (c: LoadedCase, cut: number) => Promise<boolean>): Promise<number> {
  const bad: number[] = [];
  for (const cut of cuts) if (!(await check(c, cut))) bad.push(cut);
  expect(bad, `${c.name}: cuts that do not reproduce the whole model`).toEqual([]);
  return cuts.length;
}

/** Every k-th cut (with offset), plus 0, L and every cut whose set has more than one tensor when `multi`. */
export function sampledCuts(c: LoadedCase, k: number, offset = 0, multi = true): number[] {
  const L = c.graph.layers.length;
  const out: number[] = [];
  for (let cut = 0; cut <= L; cut++) {
    if (cut === 0 || cut === L || (cut - offset) % k === 0 || (multi && c.sets[cut].length > 1)) out.push(cut);
  }
  return out;
}

export const allCuts = (c: LoadedCase): number[] => Array.from({ length: c.graph.layers.length + 1 }, (_, i) => i);

/** Names of the weights a model holds (initializers and Constant-node values). */
export function heldWeights(m: onnx.IModelProto): Set<string> {
  const g = m.graph!;
  return new Set([...(g.initializer ?? []).map((t) => t.name ?? ''), ...(g.node ?? []).filter((n) => n.opType === 'Constant').map((n) => n.output![0])]);
}

/**
 * splitModel at every cut, without running anything: the sides hold layers 1..c and c+1..L with their names, each
 * exactly the weights its own nodes read (nothing more: no weight crosses; nothing less), the cut set as the head's
 * outputs and the tail's typed inputs, the source's opset, IR version and a partition tag. Returns the cut count.
 */
export async function checkStructureAtEveryCut(name: string, file: string, dims: number[]): Promise<number> {
  const proto = decodeModel(readFileSync(file), name);
  const graph = buildGraph(proto, name);
  const shapes = await probeShapes(proto, graph, name, { [graph.inputs[0]]: dims });
  const sets = cutSets(graph);
  const L = graph.layers.length;
  const problems: string[] = [];
  const check = (ok: boolean, what: () => string) => void (ok || problems.length > 20 || problems.push(what()));
  for (let c = 0; c <= L; c++) {
    const { head, tail, cutTensors } = splitModel(proto, graph, c, shapes);
    check(JSON.stringify(cutTensors) === JSON.stringify(sets[c]), () => `cut ${c}: cut tensors differ from cutSets`);
    check((head === null) === (c === 0) && (tail === null) === (c === L), () => `cut ${c}: wrong empty side`);
    for (const [side, part, layers] of [['head', head, graph.layers.slice(0, c)], ['tail', tail, graph.layers.slice(c)]] as const) {
      if (!part) continue;
      const g = part.graph!;
      const compute = (g.node ?? []).filter((n) => n.opType !== 'Constant').map((n) => n.name);
      check(JSON.stringify(compute) === JSON.stringify(layers.map((l) => l.name)), () => `${side} at cut ${c}: layers or names differ`);
      const held = heldWeights(part);
      const reads = new Set((g.node ?? []).flatMap((n) => n.input ?? []).filter(Boolean));
      const outputs = new Set((g.output ?? []).map((o) => o.name));
      for (const w of held) check(reads.has(w) || outputs.has(w), () => `${side} at cut ${c} holds unread weight '${w}'`);
      for (const x of reads) if (graph.weights.has(x)) check(held.has(x), () => `${side} at cut ${c} lacks weight '${x}'`);
      check(JSON.stringify(part.opsetImport) === JSON.stringify(proto.opsetImport) && part.irVersion === proto.irVersion, () => `${side} at cut ${c}: opset/IR changed`);
      const tag = part.metadataProps?.find((p) => p.key === PARTITION_METADATA_KEY)?.value;
      check(tag === JSON.stringify({ side, cut: c, layers: L }), () => `${side} at cut ${c}: partition tag ${tag}`);
    }
    if (head) check(JSON.stringify(head.graph!.output!.map((o) => o.name)) === JSON.stringify(c === L ? graph.outputs : sets[c]), () => `head at cut ${c}: outputs`);
    if (tail) {
      check(JSON.stringify(tail.graph!.input!.map((i) => i.name)) === JSON.stringify(sets[c]), () => `tail at cut ${c}: inputs`);
      for (const i of tail.graph!.input!) check((i.type?.tensorType?.elemType ?? 0) > 0, () => `tail at cut ${c}: input '${i.name}' has no type`);
      check(JSON.stringify(tail.graph!.output!.map((o) => o.name)) === JSON.stringify(graph.outputs), () => `tail at cut ${c}: outputs`);
    }
  }
  expect(problems, `${name}: structural problems`).toEqual([]);
  return L + 1;
}
