import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR, loadIdxDataset, type LabelledImages } from '../../core/accuracy/idxDataset.js';
import { isCoreError } from '../../core/api/errors.js';
import { buildGraph, type ModelGraph } from '../../core/onnx/graph.js';
import { decodeModel, encodeModel } from '../../core/onnx/modelCodec.js';
import { quantizableLayers } from '../../core/quant/quantizableLayers.js';
import { calibrateRanges } from '../../core/run/calibrate.js';
import { createSession, ort } from '../../core/run/ortSession.js';
import { buildPartitions, LINK_METADATA_KEY, partitionRangeTensors, type PartitionFormat, type PartitionPlan } from '../../core/run/partitionBuilder.js';
import { probeShapes } from '../../core/run/shapeProbe.js';
import { PPOCR, ZOO } from '../helpers.js';
import { splitModel } from '../../core/onnx/partition.js';
import { allCuts, checkCuts, checkFp32, checkMixed, checkStructureAtEveryCut, heldWeights, loadCase, mixedPlan, SMALL_INPUTS, type LoadedCase } from './partitionCheck.js';

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (isCoreError(e)) return e.code;
    throw e;
  }
  throw new Error('expected a CoreError');
};


describe('splitModel: the structure of head and tail at every cut', () => {
  for (const m of [...ZOO.map((z) => ({ ...z, dims: [1, 1, 28, 28] })), { name: 'cls', file: PPOCR[2].file, dims: SMALL_INPUTS.cls }]) {
    it(m.name, async () => {
      expect(await checkStructureAtEveryCut(m.name, m.file, m.dims)).toBe(buildGraph(decodeModel(readFileSync(m.file), m.name)).layers.length + 1);
    });
  }

  it('refuses cuts outside 0..L and undeclared tail inputs without shapes', () => {
    const proto = decodeModel(readFileSync(ZOO[0].file), 'cnn');
    const graph = buildGraph(proto);
    for (const c of [-1, graph.layers.length + 1, 1.5, Number.NaN]) expect(code(() => splitModel(proto, graph, c))).toBe('partition-cut-invalid');
    expect(code(() => splitModel(proto, graph, 3))).toBe('partition-type-unknown');
    // Cut 0 needs no shapes: the input is declared.
    expect(splitModel(proto, graph, 0).tail!.graph!.input![0].name).toBe('input');
  });
});

describe('buildPartitions', () => {
  let cnn: LoadedCase;
  let resnet: LoadedCase;
  beforeAll(async () => {
    cnn = await loadCase('fmnist-cnn', ZOO[0].file, [1, 1, 28, 28]);
    resnet = await loadCase('fmnist-resnet', ZOO[1].file, [1, 1, 28, 28]);
  });

  it('validates the plan against the model', () => {
    const L = cnn.graph.layers.length;
    const relu = cnn.graph.layers.findIndex((l) => l.opType === 'Relu');
    const ok = mixedPlan(cnn, 5);
    const build = (plan: PartitionPlan, format?: PartitionFormat, ranges = cnn.ranges) => buildPartitions(cnn.proto, cnn.graph, plan, { format, ranges }, cnn.shapes);
    expect(code(() => build({ ...ok, bits: ok.bits.slice(1) }))).toBe('plan-invalid');
    expect(code(() => build({ ...ok, cut: L + 1, bits: new Array(L + 1).fill(32) }))).toBe('plan-invalid');
    expect(code(() => build({ ...ok, activationBits: null }))).toBe('plan-invalid');
    expect(code(() => build({ ...ok, activationBits: 7 }))).toBe('plan-invalid');
    expect(code(() => build({ ...ok, bits: ok.bits.map((b, i) => (i === relu ? 8 : b)) }))).toBe('plan-invalid');
    expect(code(() => build({ ...ok, bits: ok.bits.map(() => 7) }))).toBe('plan-invalid');
    expect(code(() => build({ cut: 5, bits: ok.bits.map((b) => (b === 32 ? 32 : 4)), activationBits: 32 }, 'qdq'))).toBe('quant-not-deployable');
    expect(code(() => build({ cut: 5, bits: ok.bits.map((b) => (b === 32 ? 32 : 4)), activationBits: 32 }, 'matmul-nbits'))).toBe('quant-not-deployable');
    expect(code(() => build({ ...ok, activationBits: 8 }, 'simulation', {}))).toBe('quant-not-calibrated');
    // At cut = L nothing crosses, so no activation bits are needed.
    expect(build({ cut: L, bits: new Array(L).fill(32), activationBits: null }).wire).toEqual([]);
  });

  it('never ships weights across the cut, quantized or not', () => {
    const c = 17;
    const plan = mixedPlan(resnet, c);
    const p = buildPartitions(resnet.proto, resnet.graph, plan, { ranges: resnet.ranges }, resnet.shapes);
    const headOnly = new Set(resnet.graph.layers.slice(0, c).flatMap((l) => l.weightInputs));
    const tailOnly = new Set(resnet.graph.layers.slice(c).flatMap((l) => l.weightInputs));
    const head = heldWeights(p.head!);
    const tail = heldWeights(p.tail!);
    for (const w of tailOnly) expect(head.has(w), `head carries tail weight '${w}'`).toBe(false);
    // The head's quantized layers hold their own dequantized copies; the originals are gone from the head.
    const quantized = quantizableLayers(resnet.proto, resnet.graph).filter((l) => l.position <= c && plan.bits[l.position - 1] !== 32);
    expect(quantized.length).toBeGreaterThan(3);
    for (const l of quantized) expect(head.has(l.weight)).toBe(false);
    for (const w of tail) expect(tailOnly.has(w) || w.includes('__q'), `tail carries '${w}'`).toBe(true);
    for (const w of headOnly) expect(tail.has(w), `tail carries head weight '${w}'`).toBe(false);
    // Quantized weights cost their packed size in headWeightBytes.
    const fp32 = buildPartitions(resnet.proto, resnet.graph, { cut: c, bits: new Array(c).fill(32), activationBits: 32 }, {}, resnet.shapes);
    expect(p.headWeightBytes).toBeLessThan(fp32.headWeightBytes * 0.5);
    expect(fp32.headWeightBytes).toBe([...headOnly].reduce((a, w) => a + resnet.graph.weights.get(w)!.bytes, 0));
  });

  it('describes the wire: codes packed at the link width, float16, or raw; bytes per request', () => {
    const c = 7;
    const L = cnn.graph.layers.length;
    const elements = cnn.shapes.get(cnn.sets[c][0])!.dims.reduce((a, b) => a * b, 1);
    const at = (activationBits: number | null) => buildPartitions(cnn.proto, cnn.graph, { cut: c, bits: new Array(c).fill(32), activationBits }, { ranges: cnn.ranges }, cnn.shapes);
    expect(at(32).wire).toMatchObject([{ encoding: 'raw', bits: 32, dataType: 'float32', name: cnn.sets[c][0], elements }]);
    expect(at(32).uplinkPayloadBytes).toBe(elements * 4);
    expect(at(16).wire).toMatchObject([{ encoding: 'float16', bits: 16, dataType: 'float16' }]);
    expect(at(16).uplinkPayloadBytes).toBe(elements * 2);
    for (const b of [8, 5, 3]) {
      const p = at(b);
      expect(p.wire).toMatchObject([{ encoding: 'codes', bits: b, dataType: 'uint8', tensor: cnn.sets[c][0] }]);
      expect(p.uplinkPayloadBytes).toBe(Math.ceil((elements * b) / 8));
      expect(p.headOutputs).toEqual([p.wire[0].name]);
      expect(p.tail!.graph!.input!.map((i) => i.name)).toEqual([p.wire[0].name]);
      // Both halves carry the link's description; the head's bytes do not depend on unrelated calibrated ranges.
      for (const side of [p.head!, p.tail!]) expect(JSON.parse(side.metadataProps!.find((m) => m.key === LINK_METADATA_KEY)!.value!)).toEqual(p.wire.map(({ elements: _e, ...w }) => w));
      const onlyNeeded = buildPartitions(cnn.proto, cnn.graph, { cut: c, bits: new Array(c).fill(32), activationBits: b }, { ranges: { [cnn.sets[c][0]]: cnn.ranges[cnn.sets[c][0]] } }, cnn.shapes);
      expect(Buffer.from(onlyNeeded.headBytes!).equals(Buffer.from(p.headBytes!))).toBe(true);
    }
    // cut 0: the input crosses; a float link needs no head, a quantized one a head of link nodes only.
    const c0 = buildPartitions(cnn.proto, cnn.graph, { cut: 0, bits: [], activationBits: 32 }, {}, cnn.shapes);
    expect(c0.headBytes).toBeNull();
    expect(c0.wire).toMatchObject([{ name: 'input', encoding: 'raw' }]);
    const q0 = buildPartitions(cnn.proto, cnn.graph, { cut: 0, bits: [], activationBits: 4 }, { ranges: cnn.ranges }, cnn.shapes);
    expect(q0.head!.graph!.node!.map((n) => n.opType)).toEqual(['Div', 'Add', 'Sub', 'Add', 'Clip', 'Cast']);
    // cut L: nothing crosses, the head returns the graph outputs.
    const cL = buildPartitions(cnn.proto, cnn.graph, { cut: L, bits: new Array(L).fill(8).map((b, i) => (quantizableLayers(cnn.proto, cnn.graph).some((q) => q.position === i + 1) ? b : 32)), activationBits: null }, {}, cnn.shapes);
    expect(cL.tailBytes).toBeNull();
    expect(cL.headOutputs).toEqual(cnn.graph.outputs);
    expect(cL.uplinkPayloadBytes).toBe(0);
  });

  it('partitionRangeTensors lists the float cut tensors, and the head layers for qdq', () => {
    const plan = mixedPlan(resnet, 17);
    expect(partitionRangeTensors(resnet.proto, resnet.graph, { ...plan, activationBits: 32 }, 'simulation', resnet.shapes)).toEqual([]);
    expect(partitionRangeTensors(resnet.proto, resnet.graph, { ...plan, activationBits: 8 }, 'simulation', resnet.shapes)).toEqual(resnet.sets[17]);
    const qdq = partitionRangeTensors(resnet.proto, resnet.graph, { ...plan, bits: plan.bits.map((b) => (b === 32 ? 32 : 8)), activationBits: 8 }, 'qdq', resnet.shapes);
    expect(qdq.length).toBeGreaterThan(resnet.sets[17].length);
  });
});

describe('deployable heads (qdq, matmul-nbits) run and agree with the simulation form', () => {
  let test: LabelledImages;
  let train: LabelledImages;
  beforeAll(() => {
    test = loadIdxDataset(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));
    train = loadIdxDataset(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'), join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz'));
  });
  const N = 200;
  async function predictions(bytes: [Uint8Array | null, Uint8Array | null], optimization: 'all' | 'disabled'): Promise<number[]> {
    const sessions = await Promise.all(bytes.map((b) => (b ? createSession(b, 'part', { optimization }) : null)));
    const x = Float32Array.from(test.pixels.subarray(0, N * 784), (v) => v / 255);
    let feeds: Record<string, ort.Tensor> = { input: new ort.Tensor('float32', x, [N, 1, 28, 28]) };
    for (const s of sessions) if (s) feeds = (await s.run(feeds)) as Record<string, ort.Tensor>;
    await Promise.all(sessions.map((s) => s?.release()));
    const y = feeds.logits.data as Float32Array;
    return Array.from({ length: N }, (_, i) => {
      let best = 0;
      for (let k = 1; k < 10; k++) if (y[i * 10 + k] > y[i * 10 + best]) best = k;
      return best;
    });
  }
  async function compare(modelIndex: number, cut: number, bits: number, format: PartitionFormat, minAgreement: number) {
    const proto = decodeModel(readFileSync(ZOO[modelIndex].file), ZOO[modelIndex].name);
    const graph: ModelGraph = buildGraph(proto);
    const shapes = await probeShapes(proto, graph, 'm', { input: [1, 1, 28, 28] });
    const q = new Set(quantizableLayers(proto, graph).map((l) => l.position));
    const plan = { cut, bits: graph.layers.slice(0, cut).map((l) => (q.has(l.position) ? bits : 32)), activationBits: 8 };
    const need = partitionRangeTensors(proto, graph, plan, format, shapes);
    const ranges = await calibrateRanges(proto, graph, 'm', need, train, [1, 28, 28], { method: 'minmax', bits: 8, offset: 55000, samples: 500 });
    const deployable = buildPartitions(proto, graph, plan, { format, ranges }, shapes);
    const simulation = buildPartitions(proto, graph, plan, { ranges }, shapes);
    const a = await predictions([deployable.headBytes, deployable.tailBytes], 'all');
    const b = await predictions([simulation.headBytes, simulation.tailBytes], 'disabled');
    const agree = a.filter((v, i) => v === b[i]).length / N;
    expect(agree).toBeGreaterThanOrEqual(minAgreement);
    // The deployable head stores its weights at low precision: a smaller file than the float simulation head.
    expect(deployable.headBytes!.length).toBeLessThan(simulation.headBytes!.length);
    return deployable;
  }

  it('qdq INT8 head of fmnist-cnn', async () => {
    const p = await compare(0, 9, 8, 'qdq', 0.97);
    expect(p.head!.graph!.node!.some((n) => n.opType === 'QuantizeLinear')).toBe(true);
  });

  it('matmul-nbits 4-bit head of fmnist-mlp', async () => {
    const p = await compare(2, 4, 4, 'matmul-nbits', 0.9);
    expect(p.head!.graph!.node!.some((n) => n.opType === 'MatMulNBits')).toBe(true);
  });
});

/**
 * The acceptance check of the issue: head then tail reproduces the whole model bit for bit at every cut — the
 * original model for FP32 plans, writePlanReference for quantized plans (weights 2..8/16 bit, link 2..8/16 bit).
 * The PP-OCR models have their own files (partitionCls, partitionClsQuant, partitionDet, partitionRec) so each file
 * stays under a minute.
 */
describe('head → tail reproduces the whole model at every cut', () => {
  for (const m of ZOO) {
    it(`${m.name}: FP32 plans equal the original, quantized plans equal the reference`, async () => {
      const c = await loadCase(m.name, m.file, [1, 1, 28, 28]);
      const cuts = allCuts(c);
      const fp32 = await checkCuts(c, cuts, checkFp32);
      const mixed = await checkCuts(c, cuts, checkMixed);
      expect(fp32).toBe(c.graph.layers.length + 1);
      expect(mixed).toBe(c.graph.layers.length + 1);
      // Re-encoding is deterministic: the same plan gives the same bytes.
      const plan = mixedPlan(c, Math.floor(c.graph.layers.length / 2));
      const a = buildPartitions(c.proto, c.graph, plan, { ranges: c.ranges }, c.shapes);
      const b = buildPartitions(c.proto, c.graph, plan, { ranges: c.ranges }, c.shapes);
      expect(Buffer.from(a.headBytes!).equals(Buffer.from(b.headBytes!))).toBe(true);
      expect(Buffer.from(encodeModel(a.tail!)).equals(Buffer.from(b.tailBytes!))).toBe(true);
    });
  }
});
