import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cutSets } from '../../core/onnx/cutSets.js';
import { buildGraph, type ModelGraph } from '../../core/onnx/graph.js';
import { decodeModel, encodeModel, onnx } from '../../core/onnx/modelCodec.js';
import { PPOCR, ZOO } from '../helpers.js';

const load = (file: string): ModelGraph => buildGraph(decodeModel(readFileSync(file), file), file);

/**
 * The cut-set contract, checked from first principles: the tail (layers after c) can be computed from the cut set
 * and the weights alone, every cut tensor is available once the head has run, and none is superfluous.
 */
function checkCut(g: ModelGraph, c: number, set: string[]): void {
  const L = g.layers.length;
  const x = new Set(set);
  const headMade = new Set<string>(g.inputs);
  for (const l of g.layers.slice(0, c)) for (const o of l.outputs) headMade.add(o);
  for (const t of set) expect(headMade.has(t), `${t} in X_${c} is not available after the head`).toBe(true);
  const tailHas = new Set<string>([...x, ...g.weights.keys()]);
  for (const l of g.layers.slice(c)) {
    for (const i of [...l.inputs, ...l.capturedInputs]) if (i) expect(tailHas.has(i), `layer ${l.name} needs ${i} at cut ${c}`).toBe(true);
    for (const o of l.outputs) tailHas.add(o);
  }
  for (const o of g.outputs) expect(tailHas.has(o)).toBe(true);
  for (const t of set) {
    const needed = g.outputs.includes(t) || g.layers.slice(c).some((l) => l.inputs.includes(t) || l.capturedInputs.includes(t));
    expect(needed, `${t} crosses cut ${c} but nothing after it reads it`).toBe(true);
  }
  if (c === 0) expect(new Set(set)).toEqual(new Set(g.inputs));
  if (c === L) expect(new Set(set)).toEqual(new Set(g.outputs));
}

describe('graph IR on real models', () => {
  for (const m of [...PPOCR, ...ZOO]) {
    it(`${m.name}: topological order, unique names, valid cut sets`, () => {
      const g = load(m.file);
      expect(g.layers.length).toBeGreaterThan(5);
      const pos = new Map<string, number>();
      for (const l of g.layers) for (const o of l.outputs) pos.set(o, l.position);
      for (const l of g.layers) for (const i of l.inputs) if (pos.has(i)) expect(pos.get(i)!).toBeLessThan(l.position);
      expect(new Set(g.layers.map((l) => l.name)).size).toBe(g.layers.length);
      const sets = cutSets(g);
      expect(sets.length).toBe(g.layers.length + 1);
      sets.forEach((s, c) => checkCut(g, c, s));
    });
  }

  it('Constant-node weights (PP-OCR) are weights, not layers', () => {
    const bytes = readFileSync(PPOCR[2].file);
    const proto = decodeModel(bytes, 'cls');
    const constants = (proto.graph!.node ?? []).filter((n) => n.opType === 'Constant').length;
    expect(constants).toBeGreaterThan(50);
    const g = buildGraph(proto);
    expect(g.layers.every((l) => l.opType !== 'Constant')).toBe(true);
    expect([...g.weights.values()].filter((w) => w.origin === 'constant').length).toBe(constants);
    const conv = g.layers.find((l) => l.opType === 'Conv')!;
    expect(conv.weightInputs.length).toBeGreaterThanOrEqual(1);
  });

  it('residual nets have cuts crossing several tensors', () => {
    for (const file of [ZOO[1].file, PPOCR[0].file]) {
      const widest = Math.max(...cutSets(load(file)).map((s) => s.length));
      expect(widest).toBeGreaterThanOrEqual(2);
    }
  });

  it('keeps a graph input that is also an initializer as a weight, not a runtime input', () => {
    const F = onnx.TensorProto.DataType.FLOAT;
    const vi = (name: string) => ({ name, type: { tensorType: { elemType: F, shape: { dim: [{ dimValue: 2 }] } } } });
    const m: onnx.IModelProto = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        node: [{ opType: 'Add', input: ['x', 'w'], output: ['y'] }],
        initializer: [{ name: 'w', dims: [2], dataType: F, floatData: [1, 2] }],
        input: [vi('x'), vi('w')],
        output: [vi('y')],
      },
    };
    const g = buildGraph(decodeModel(encodeModel(m), 'm'));
    expect(g.inputs).toEqual(['x']);
    expect(g.layers[0].weightInputs).toEqual(['w']);
    expect(g.layers[0].name).toBe('Add_0');
  });

  it('orders an out-of-order node list topologically', () => {
    const F = onnx.TensorProto.DataType.FLOAT;
    const vi = (name: string) => ({ name, type: { tensorType: { elemType: F, shape: { dim: [{ dimValue: 2 }] } } } });
    const m: onnx.IModelProto = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        node: [
          { name: 'second', opType: 'Relu', input: ['a'], output: ['y'] },
          { name: 'first', opType: 'Neg', input: ['x'], output: ['a'] },
        ],
        input: [vi('x')],
        output: [vi('y')],
      },
    };
    const g = buildGraph(m);
    expect(g.layers.map((l) => l.name)).toEqual(['first', 'second']);
    expect(cutSets(g)).toEqual([['x'], ['a'], ['y']]);
  });
});
