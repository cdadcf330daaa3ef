import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR, loadIdxDataset } from '../../core/accuracy/idxDataset.js';
import { isCoreError } from '../../core/api/errors.js';
import { buildGraph, type ModelGraph } from '../../core/onnx/graph.js';
import { onnx } from '../../core/onnx/generated/onnxProto.js';
import { decodeModel, encodeModel, tensorToFloat32 } from '../../core/onnx/modelCodec.js';
import { weightTensor } from '../../core/onnx/modelEdit.js';
import {
  ChannelStatsObserver,
  channelRanges,
  checkRatio,
  effectiveRatios,
  FLEXIQ_BLOCK,
  flexiqPlanFor,
  lowChannelsFor,
  lowCountFor,
  lowerCode,
  lowerRow,
  quantizeLayer8,
  rankChannels,
  searchRankings,
  unusedHighBits,
  type FlexiqLayerQuant,
  type FlexiqPlan,
} from '../../core/quant/flexiq.js';
import { flexiqLayerQuant, flexiqLayers, writeFlexiqModel } from '../../core/quant/flexiqWriter.js';
import { writeMatMulNBitsModel } from '../../core/quant/matMulNBitsWriter.js';
import { defaultQuantConfig } from '../../core/quant/quantConfig.js';
import { roundHalfToEven } from '../../core/quant/weightQuant.js';
import type { QuantizableLayer } from '../../core/quant/quantizableLayers.js';
import { createSession, ort } from '../../core/run/ortSession.js';
import { mulberry32 } from '../../core/util/random.js';
import { ZOO_DIR } from '../helpers.js';

function expectCoreError(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(isCoreError(e), String(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    expect((e as Error).message).toMatch(/^[A-Z].*\.$/s);
    return;
  }
  throw new Error(`expected CoreError ${code}`);
}

function shuffled(n: number, seed: number): number[] {
  const rand = mulberry32(seed);
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

describe('FlexiQ bit-lowering', () => {
  it('counts the unused high bits of a two-s-complement byte (s <= 4)', () => {
    const cases: [number, number][] = [[0, 4], [1, 4], [7, 4], [8, 3], [15, 3], [16, 2], [31, 2], [32, 1], [63, 1], [64, 0], [127, 0]];
    for (const [maxAbs, s] of cases) expect(unusedHighBits(maxAbs), `|code| <= ${maxAbs}`).toBe(s);
  });

  it("'truncate' keeps exactly bits [7-s .. 4-s] of the 8-bit code", () => {
    for (let s = 0; s <= 4; s++) {
      const shift = 4 - s;
      const lim = 2 ** (7 - s);
      for (let code = -lim + 1; code < lim; code++) {
        if (code < -127) continue;
        // Bits [7-s .. 4-s] of the byte, read as a 4-bit two's-complement number.
        const field = ((code & 0xff) >> shift) & 0xf;
        const signed = field >= 8 ? field - 16 : field;
        expect(lowerCode(code, shift, 'truncate')).toBe(signed);
      }
    }
  });

  it("'nearest' is within half a 4-bit step of the code (saturating only at +8)", () => {
    for (let s = 0; s <= 4; s++) {
      const shift = 4 - s;
      const lim = 2 ** (7 - s);
      for (let code = -lim + 1; code < lim && code <= 127; code++) {
        const c4 = lowerCode(code, shift, 'nearest');
        expect(c4).toBeGreaterThanOrEqual(-8);
        expect(c4).toBeLessThanOrEqual(7);
        expect(c4).toBe(Math.min(7, roundHalfToEven(code / 2 ** shift)) + 0);
        const err = Math.abs(c4 * 2 ** shift - code);
        if (code / 2 ** shift <= 7.5) expect(err).toBeLessThanOrEqual(2 ** shift / 2);
      }
    }
  });

  it('a channel whose codes fit in 4 signed bits (|code| < 8) loses nothing; |code| < 16 only loses bit 0', () => {
    // A 2 x 3 weight [K, N] (MatMul layout, channel axis 1): row 0 spans the grid, row 1 is tiny.
    const w = Float32Array.from([1.0, -2.0, 0.5, 0.05, -0.1, 0.02]);
    const q = quantizeLayer8(w, [2, 3], 1);
    expect(Array.from(q.codes.subarray(3, 6)).every((c) => Math.abs(c) < 8)).toBe(true);
    expect(q.unusedBits[1]).toBe(4);
    const low = lowerRow(q, 1);
    expect(low.shift).toBe(0);
    expect(Array.from(low.codes4)).toEqual(Array.from(q.codes.subarray(3, 6)));

    const codes = Int8Array.from([15, -15, 14, 3, -16 + 1, 9]);
    const q16: FlexiqLayerQuant = { k: 1, n: 6, codes, scales: new Float32Array(6).fill(1), rowAbsMax: Float32Array.of(15), unusedBits: Uint8Array.of(unusedHighBits(15)) };
    const r = lowerRow(q16, 0, 'truncate');
    expect(r.shift).toBe(1);
    for (let j = 0; j < 6; j++) {
      expect(r.codes4[j]).toBe(codes[j] >> 1);
      expect(codes[j] - r.codes4[j] * 2).toBe(codes[j] & 1);
    }
  });

  it('quantizes on a per-output-channel 8-bit grid, the same for [N, K] and [K, N] storage', () => {
    const rand = mulberry32(3);
    const [k, n] = [5, 7];
    const wkn = Float32Array.from({ length: k * n }, () => rand() * 2 - 1);
    const wnk = new Float32Array(k * n);
    for (let a = 0; a < k; a++) for (let b = 0; b < n; b++) wnk[b * k + a] = wkn[a * n + b];
    const a = quantizeLayer8(wkn, [k, n], 1);
    const b = quantizeLayer8(wnk, [n, k], 0);
    expect(Array.from(a.codes)).toEqual(Array.from(b.codes));
    expect(Array.from(a.scales)).toEqual(Array.from(b.scales));
    for (let j = 0; j < n; j++) expect(Math.max(...Array.from({ length: k }, (_, i) => Math.abs(a.codes[i * n + j])))).toBe(127);
  });
});

describe('FlexiQ ranking and nested sets', () => {
  it('ranks channels by max|x| * max|W row| ascending, ties by index', () => {
    const r = channelRanges([1, 2, 0, 4, 1], [3, 1, 9, 0.5, 3]);
    expect(Array.from(r)).toEqual([3, 2, 0, 2, 3]);
    expect(Array.from(rankChannels(r))).toEqual([2, 1, 3, 0, 4]);
  });

  it('gives nested low-bit sets for increasing ratios, snapped to 16-channel blocks', () => {
    const ranking = Int32Array.from(shuffled(784, 5));
    let prev: number[] = [];
    for (const ratio of [0, 5, 10, 25, 33, 50, 75, 90, 100]) {
      const set = lowChannelsFor(ranking, ratio);
      expect(set.slice(0, prev.length)).toEqual(prev);
      if (ratio > 0 && ratio < 100) expect(set.length % FLEXIQ_BLOCK).toBe(0);
      prev = set;
    }
    expect(lowCountFor(0, 784)).toBe(0);
    expect(lowCountFor(100, 784)).toBe(784);
    expect(lowCountFor(25, 784)).toBe(192);
    expect(lowCountFor(50, 1024)).toBe(512);
  });

  it('reports the effective ratio per layer and by MACs', () => {
    const shapes = new Map([['a', { k: 784, n: 1024 }], ['b', { k: 1024, n: 10 }]]);
    const plan = flexiqPlanFor(new Map([['a', Int32Array.from(shuffled(784, 1))], ['b', Int32Array.from(shuffled(1024, 2))]]), 25);
    const e = effectiveRatios(shapes, plan);
    expect(e.layers.map((l) => l.lowCount)).toEqual([192, 256]);
    expect(e.layers[0].effectiveRatio).toBeCloseTo((100 * 192) / 784, 10);
    expect(e.macShare).toBeCloseTo((100 * (192 * 1024 + 256 * 10)) / (784 * 1024 + 1024 * 10), 10);
  });

  it('refuses ratios outside [0, 100]', () => {
    for (const bad of [-1, 100.5, Number.NaN, Infinity]) expectCoreError(() => checkRatio(bad), 'flexiq-ratio-invalid');
  });

  it('observes per-channel statistics the same in one chunk or many', () => {
    const rand = mulberry32(9);
    const v = Float32Array.from({ length: 12 * 8 }, () => rand() * 4 - 2);
    const whole = new ChannelStatsObserver(8);
    whole.observe(v);
    const parts = new ChannelStatsObserver(8);
    for (let i = 0; i < 12; i += 3) parts.observe(v.subarray(i * 8, (i + 3) * 8));
    expect(Array.from(parts.absMax())).toEqual(Array.from(whole.absMax()));
    expect(Array.from(parts.meanSquare())).toEqual(Array.from(whole.meanSquare()));
    expect(whole.rows).toBe(12);
  });

  it('keeps only strictly better candidates in the ranking search', async () => {
    const k = 64;
    const initial = new Map([['a', Int32Array.from({ length: k }, (_, i) => i)]]);
    // Near the 50% boundary (the window is 8 channels each side), channel 28 has the largest lowering error.
    const proxies = new Map([['a', Float64Array.from({ length: k }, (_, i) => (i === 28 ? 100 : k - i))]]);
    // The score agrees with the proxy: channel 28 in the 4-bit half is bad.
    const score = async (r: ReadonlyMap<string, Int32Array>) => (Array.from(r.get('a')!.subarray(0, k / 2)).includes(28) ? 1 : 0);
    const res = await searchRankings(initial, proxies, score, { steps: 3, ratios: [50], swapSize: 1, window: 8 });
    expect(res.baselineScore).toBe(1);
    expect(res.bestScore).toBe(0);
    expect(res.accepted).toBe(1);
    expect(res.tried).toBe(3);
    expect(Array.from(res.rankings.get('a')!).sort((x, y) => x - y)).toEqual(Array.from(initial.get('a')!));
    expect(Array.from(res.rankings.get('a')!.subarray(k / 2))).toContain(28);
    const flat = await searchRankings(initial, proxies, async () => 1, { steps: 3, ratios: [50], swapSize: 1, window: 8 });
    expect(flat.accepted).toBe(0);
    expect(flat.bestScore).toBe(flat.baselineScore);
    expect(Array.from(flat.rankings.get('a')!)).toEqual(Array.from(initial.get('a')!));
  });
});

describe('FlexiQ mixed kernel in ONNX Runtime (fmnist-mlp)', () => {
  let model: onnx.ModelProto;
  let graph: ModelGraph;
  let layers: QuantizableLayer[];
  let rankings: Map<string, Int32Array>;
  let images: Float32Array;
  const COUNT = 8;
  const sessions: ort.InferenceSession[] = [];

  beforeAll(() => {
    model = decodeModel(readFileSync(join(ZOO_DIR, 'fmnist-mlp.onnx')), 'fmnist-mlp.onnx');
    graph = buildGraph(model);
    layers = flexiqLayers(model, graph);
    // Ranking by the weight rows alone is enough here: the kernel must be exact for any channel set.
    rankings = new Map(layers.map((l) => [l.name, rankChannels(flexiqLayerQuant(model, l).rowAbsMax)]));
    const test = loadIdxDataset(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), null);
    images = Float32Array.from(test.pixels.subarray(0, COUNT * 784), (p) => p / 255);
  });
  afterAll(async () => {
    for (const s of sessions) await s.release();
  });

  async function run(proto: onnx.IModelProto): Promise<Float32Array> {
    const s = await createSession(encodeModel(proto), 'flexiq-test');
    sessions.push(s);
    return (await s.run({ input: new ort.Tensor('float32', images, [COUNT, 1, 28, 28]) })).logits.data as Float32Array;
  }

  /** Round half to even, written out here so the reference does not share code with the writer. */
  function rne(v: number): number {
    const f = Math.floor(v);
    const d = v - f;
    return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
  }

  /** The MLP in float64 with each layer's effective weights rebuilt from the 8-bit codes. */
  function reference(plan: FlexiqPlan): Float64Array {
    expect(graph.layers.map((l) => l.opType)).toEqual(['Flatten', 'Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm']);
    let act: Float64Array = Float64Array.from(images);
    let width = 784;
    for (const l of layers) {
      const q = flexiqLayerQuant(model, l);
      const low = new Uint8Array(q.k);
      for (const c of plan.layers.find((p) => p.name === l.name)!.lowChannels) low[c] = 1;
      const bias = tensorToFloat32(weightTensor(model, l.bias!));
      const w = new Float64Array(q.k * q.n);
      for (let k = 0; k < q.k; k++) {
        let maxAbs = 0;
        for (let j = 0; j < q.n; j++) maxAbs = Math.max(maxAbs, Math.abs(q.codes[k * q.n + j]));
        // s = unused high bits (at most 4): |code| < 2^(7-s).
        let s = 0;
        while (s < 4 && maxAbs < 2 ** (7 - s - 1)) s++;
        const shift = 4 - s;
        for (let j = 0; j < q.n; j++) {
          const code = q.codes[k * q.n + j];
          const c = low[k] ? Math.min(7, Math.max(-8, rne(code / 2 ** shift))) * 2 ** shift : code;
          w[k * q.n + j] = Math.fround(c * q.scales[j]);
        }
      }
      const out = new Float64Array(COUNT * q.n);
      for (let i = 0; i < COUNT; i++) {
        const o = out.subarray(i * q.n, (i + 1) * q.n);
        o.set(bias);
        for (let k = 0; k < q.k; k++) {
          const a = act[i * width + k];
          if (a !== 0) for (let j = 0, at = k * q.n; j < q.n; j++, at++) o[j] += a * w[at];
        }
        if (l !== layers[layers.length - 1]) for (let j = 0; j < q.n; j++) o[j] = Math.max(0, o[j]);
      }
      act = out;
      width = q.n;
    }
    return act;
  }

  function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    return m;
  }

  function argmaxes(v: ArrayLike<number>): number[] {
    return Array.from({ length: COUNT }, (_, i) => {
      let best = 0;
      for (let c = 1; c < 10; c++) if (v[i * 10 + c] > v[i * 10 + best]) best = c;
      return best;
    });
  }

  const meta = (p: onnx.IModelProto) => JSON.parse(p.metadataProps!.find((x) => x.key === 'partita.quant')!.value!);

  it('equals a float reference built from the same codes at every ratio (fp32 compute)', async () => {
    const plans: [string, FlexiqPlan][] = [0, 25, 50, 75, 100].map((r) => [`${r}%`, flexiqPlanFor(rankings, r, { accuracyLevel: 1 })]);
    // Arbitrary sets, one not a multiple of 16 (padding rows, gathered input).
    plans.push(['random 37.5%', { accuracyLevel: 1, layers: layers.map((l, i) => ({ name: l.name, ratio: 37.5, lowChannels: lowChannelsFor(shuffled(flexiqLayerQuant(model, l).k, 10 + i), 37.5) })) }]);
    plans.push(['random 100 channels', { accuracyLevel: 1, layers: layers.map((l, i) => ({ name: l.name, ratio: 10, lowChannels: shuffled(flexiqLayerQuant(model, l).k, 20 + i).slice(0, 100) })) }]);
    for (const [label, plan] of plans) {
      const ref = reference(plan);
      const got = await run(writeFlexiqModel(model, graph, plan));
      const scale = Math.max(1, ...Array.from(ref, Math.abs));
      expect(maxAbsDiff(got, ref) / scale, label).toBeLessThan(1e-5);
    }
  });

  it('writes the mixed layer as Split/Gather + 4-bit and 8-bit MatMulNBits + Add, with the producer permuted', () => {
    const p = writeFlexiqModel(model, graph, flexiqPlanFor(rankings, 50));
    const ops = p.graph!.node!.map((n) => (n.opType === 'MatMulNBits' ? `MatMulNBits${n.attribute!.find((a) => a.name === 'bits')!.i}` : n.opType));
    expect(ops.filter((o) => o === 'MatMulNBits4').length).toBe(3);
    expect(ops.filter((o) => o === 'MatMulNBits8').length).toBe(3);
    expect(ops).not.toContain('Gemm');
    const m = meta(p);
    expect(m.format).toBe('flexiq');
    expect(m.layers.map((l: { input: string }) => l.input)).toEqual(['gather', 'split', 'split']);
    expect(m.layers.map((l: { lowCount: number }) => l.lowCount)).toEqual([400, 512, 512]);
    const full = writeFlexiqModel(model, graph, flexiqPlanFor(rankings, 100));
    expect(full.graph!.node!.filter((n) => n.opType === 'MatMulNBits').map((n) => Number(n.attribute!.find((a) => a.name === 'bits')!.i))).toEqual([4, 4, 4]);
    expect(full.graph!.node!.filter((n) => ['Gather', 'Split', 'Add', 'Mul'].includes(n.opType ?? ''))).toEqual([]);
  });

  it('stays close to the float reference with the fast int8-compute kernel (accuracy level 4)', async () => {
    for (const r of [0, 50, 100]) {
      const plan = flexiqPlanFor(rankings, r);
      const ref = reference(plan);
      const got = await run(writeFlexiqModel(model, graph, plan));
      const scale = Math.max(...Array.from(ref, Math.abs));
      expect(maxAbsDiff(got, ref) / scale, `${r}%`).toBeLessThan(0.03);
      expect(argmaxes(got)).toEqual(argmaxes(ref));
    }
  });

  it('at ratio 0 is exactly the single 8-bit MatMulNBits model of the same codes', async () => {
    const p0 = writeFlexiqModel(model, graph, flexiqPlanFor(rankings, 0));
    expect(p0.graph!.node!.map((n) => n.opType)).toEqual(['Flatten', 'MatMulNBits', 'Relu', 'MatMulNBits', 'Relu', 'MatMulNBits']);
    // The same kernel built by hand: B = code + 128 per output row, scales repeated per block, bias as input 5.
    const nodes = [...model.graph!.node!];
    const inits = [...model.graph!.initializer!];
    for (const l of layers) {
      const q = flexiqLayerQuant(model, l);
      const bs = [128, 64, 32, 16].find((b) => q.k % b === 0)!;
      const bytes = new Uint8Array(q.n * q.k);
      for (let j = 0; j < q.n; j++) for (let k = 0; k < q.k; k++) bytes[j * q.k + k] = q.codes[k * q.n + j] + 128;
      const scales = new Float32Array(q.n * (q.k / bs));
      for (let j = 0; j < q.n; j++) scales.fill(q.scales[j], j * (q.k / bs), (j + 1) * (q.k / bs));
      inits.push(
        { name: `${l.name}_B`, dims: [q.n, q.k / bs, bs], dataType: 2, rawData: bytes },
        { name: `${l.name}_s`, dims: [q.n * (q.k / bs)], dataType: 1, rawData: new Uint8Array(scales.buffer) },
      );
      const at = graph.layers[l.position - 1].nodeIndex;
      const attr = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
      nodes[at] = {
        opType: 'MatMulNBits',
        domain: 'com.microsoft',
        input: [l.activation, `${l.name}_B`, `${l.name}_s`, '', '', l.bias!],
        output: nodes[at].output,
        attribute: [attr('K', q.k), attr('N', q.n), attr('bits', 8), attr('block_size', bs), attr('accuracy_level', 4)],
      };
    }
    const byHand = { ...model, opsetImport: [...model.opsetImport!, { domain: 'com.microsoft', version: 1 }], graph: { ...model.graph!, node: nodes, initializer: inits } };
    expect(Array.from(await run(p0))).toEqual(Array.from(await run(byHand)));
  });

  it('at ratio 0 agrees with the repository 8-bit MatMulNBits writer (block-wise grid) up to grid differences', async () => {
    const cfg = defaultQuantConfig(8);
    cfg.weights.granularity = 'block';
    const a = await run(writeFlexiqModel(model, graph, flexiqPlanFor(rankings, 0)));
    const b = await run(writeMatMulNBitsModel(model, graph, cfg));
    expect(argmaxes(a)).toEqual(argmaxes(b));
    expect(maxAbsDiff(a, b) / Math.max(...Array.from(b, Math.abs))).toBeLessThan(0.02);
  });

  it('writes the same bytes twice, whatever the order of the channel list', () => {
    const plan = flexiqPlanFor(rankings, 25);
    const a = encodeModel(writeFlexiqModel(model, graph, plan));
    const b = encodeModel(writeFlexiqModel(model, graph, plan));
    const reordered = { ...plan, layers: plan.layers.map((l) => ({ ...l, lowChannels: [...l.lowChannels].reverse() })) };
    const c = encodeModel(writeFlexiqModel(model, graph, reordered));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(true);
  });

  it('refuses bad plans and models without Gemm/MatMul with CoreErrors', () => {
    const ok = flexiqPlanFor(rankings, 50);
    expectCoreError(() => writeFlexiqModel(model, graph, { layers: [{ name: 'nope', ratio: 50, lowChannels: [] }] }), 'flexiq-layer-unknown');
    expectCoreError(() => writeFlexiqModel(model, graph, { layers: [{ ...ok.layers[0], lowChannels: [0, 784] }] }), 'flexiq-channels-invalid');
    expectCoreError(() => writeFlexiqModel(model, graph, { layers: [{ ...ok.layers[0], lowChannels: [3, 3] }] }), 'flexiq-channels-invalid');
    expectCoreError(() => writeFlexiqModel(model, graph, { layers: [{ ...ok.layers[0], ratio: 150 }] }), 'flexiq-ratio-invalid');
    expectCoreError(() => writeFlexiqModel(model, graph, { layers: [ok.layers[0], ok.layers[0]] }), 'flexiq-layer-repeated');
    const vi = (name: string) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 4 }] } } } });
    const relu: onnx.IModelProto = { irVersion: 8, opsetImport: [{ version: 13 }], graph: { name: 'g', node: [{ opType: 'Relu', input: ['x'], output: ['y'] }], input: [vi('x')], output: [vi('y')] } };
    expectCoreError(() => writeFlexiqModel(relu, buildGraph(relu), { layers: [] }), 'quant-no-layers');
  });
});

describe('FlexiQ writer paths on a synthetic MatMul -> Sigmoid -> Gemm -> Relu -> Gemm model', () => {
  // Input channel k of every weight is scaled by 2^-(k mod 5), so the channels' unused high bits (shifts) differ.
  const rand = mulberry32(77);
  const weight = (k: number, n: number, kMajor: boolean): Float32Array => {
    const w = new Float32Array(k * n);
    for (let a = 0; a < k; a++) for (let b = 0; b < n; b++) w[kMajor ? a * n + b : b * k + a] = (rand() * 2 - 1) * 2 ** -(a % 5);
    return w;
  };
  const W1 = weight(48, 32, true);
  const W2 = weight(32, 32, true);
  const W3 = weight(32, 8, false);
  const C2 = Float32Array.from({ length: 32 }, () => rand() - 0.5);
  const C3 = Float32Array.from({ length: 8 }, () => rand() - 0.5);
  const ROWS = 5;
  const X = Float32Array.from({ length: ROWS * 48 }, () => rand() * 2 - 1);
  const T = onnx.TensorProto.DataType.FLOAT;
  const init = (name: string, dims: number[], v: Float32Array) => ({ name, dims, dataType: T, rawData: new Uint8Array(v.buffer.slice(0)) });
  const vi = (name: string, n: number) => ({ name, type: { tensorType: { elemType: T, shape: { dim: [{ dimParam: 'N' }, { dimValue: n }] } } } });
  const model: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ version: 13 }],
    graph: {
      name: 'synthetic',
      node: [
        { opType: 'MatMul', name: 'mm1', input: ['x', 'W1'], output: ['h1'] },
        { opType: 'Sigmoid', name: 'sig', input: ['h1'], output: ['a1'] },
        { opType: 'Gemm', name: 'gemm2', input: ['a1', 'W2', 'C2'], output: ['h2'] },
        { opType: 'Relu', name: 'relu', input: ['h2'], output: ['a2'] },
        { opType: 'Gemm', name: 'gemm3', input: ['a2', 'W3', 'C3'], output: ['y'], attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
      ],
      initializer: [init('W1', [48, 32], W1), init('W2', [32, 32], W2), init('C2', [32], C2), init('W3', [8, 32], W3), init('C3', [8], C3)],
      input: [vi('x', 48)],
      output: [vi('y', 8)],
    },
  };
  const graph = buildGraph(model);
  const layers = flexiqLayers(model, graph);

  function effective(q: FlexiqLayerQuant, low: Set<number>): Float64Array {
    const w = new Float64Array(q.k * q.n);
    for (let k = 0; k < q.k; k++) {
      let maxAbs = 0;
      for (let j = 0; j < q.n; j++) maxAbs = Math.max(maxAbs, Math.abs(q.codes[k * q.n + j]));
      let s = 0;
      while (s < 4 && maxAbs < 2 ** (6 - s)) s++;
      for (let j = 0; j < q.n; j++) {
        const code = q.codes[k * q.n + j];
        const c = low.has(k) ? lowerCode(code, 4 - s) * 2 ** (4 - s) : code;
        w[k * q.n + j] = Math.fround(c * q.scales[j]);
      }
    }
    return w;
  }

  function reference(plan: FlexiqPlan): Float64Array {
    let act = Float64Array.from(X);
    const bias = [null, C2, C3];
    const post = [(v: number) => 1 / (1 + Math.exp(-v)), (v: number) => Math.max(0, v), (v: number) => v];
    layers.forEach((l, i) => {
      const q = flexiqLayerQuant(model, l);
      const w = effective(q, new Set(plan.layers[i].lowChannels));
      const out = new Float64Array(ROWS * q.n);
      for (let r = 0; r < ROWS; r++) {
        for (let j = 0; j < q.n; j++) {
          let acc = bias[i]?.[j] ?? 0;
          for (let k = 0; k < q.k; k++) acc += act[r * q.k + k] * w[k * q.n + j];
          out[r * q.n + j] = post[i](acc);
        }
      }
      act = out;
    });
    return act;
  }

  it('has channels with different shifts in every layer', () => {
    for (const l of layers) expect(new Set(flexiqLayerQuant(model, l).unusedBits).size, l.name).toBeGreaterThan(2);
  });

  it('matches the float reference through Gather, Split, Mul, padding and upstream shift folding', async () => {
    const random = (size: (k: number) => number, seed: number): FlexiqPlan => ({
      accuracyLevel: 1,
      layers: layers.map((l, i) => {
        const k = flexiqLayerQuant(model, l).k;
        return { name: l.name, ratio: (100 * size(k)) / k, lowChannels: shuffled(k, seed + i).slice(0, size(k)) };
      }),
    });
    const ranked = new Map(layers.map((l) => [l.name, rankChannels(flexiqLayerQuant(model, l).rowAbsMax)]));
    const plans: [string, FlexiqPlan][] = [
      ...[0, 33, 67, 100].map((r): [string, FlexiqPlan] => [`${r}%`, flexiqPlanFor(ranked, r, { accuracyLevel: 1 })]),
      ['random 16', random(() => 16, 3)],
      ['random 5 (padded)', random(() => 5, 4)],
    ];
    for (const [label, plan] of plans) {
      const p = writeFlexiqModel(model, graph, plan);
      if (label === 'random 16') {
        const m = JSON.parse(p.metadataProps!.find((x) => x.key === 'partita.quant')!.value!);
        expect(m.layers.map((l: { input: string }) => l.input)).toEqual(['gather', 'split', 'split']);
        expect(m.layers.map((l: { outputPermuted: boolean }) => l.outputPermuted)).toEqual([true, true, false]);
        // Layer 1 has no producer and layer 2 sits behind a Sigmoid: both multiply; layer 3's shifts go into layer 2.
        expect(m.layers.map((l: { outputScaled: boolean }) => l.outputScaled)).toEqual([false, true, false]);
        expect(p.graph!.node!.filter((n) => n.opType === 'Mul').length).toBe(2);
        expect(p.graph!.node!.filter((n) => n.opType === 'Gather').map((n) => Number(n.attribute![0].i))).toEqual([-1, -1]);
      }
      const s = await createSession(encodeModel(p), 'synthetic');
      try {
        const got = (await s.run({ x: new ort.Tensor('float32', X, [ROWS, 48]) })).y.data as Float32Array;
        const ref = reference(plan);
        let diff = 0;
        for (let i = 0; i < ref.length; i++) diff = Math.max(diff, Math.abs(got[i] - ref[i]));
        expect(diff / Math.max(1, ...Array.from(ref, Math.abs)), label).toBeLessThan(1e-5);
      } finally {
        await s.release();
      }
    }
  });
});
