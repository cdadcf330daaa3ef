import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR, loadIdxDataset, type LabelledImages } from '../../core/accuracy/idxDataset.js';
import { top1OfLogits } from '../../core/accuracy/top1.js';
import { buildGraph } from '../../core/onnx/graph.js';
import { decodeModel, encodeModel } from '../../core/onnx/modelCodec.js';
import { withExtraOutputs } from '../../core/onnx/modelEdit.js';
import { activationQParams, fakeQuantize } from '../../core/quant/calibration.js';
import { writeMatMulNBitsModel } from '../../core/quant/matMulNBitsWriter.js';
import { writeQdqModel } from '../../core/quant/qdqWriter.js';
import { defaultQuantConfig, type QuantConfig } from '../../core/quant/quantConfig.js';
import { outputRangeTensor, quantizableLayers } from '../../core/quant/quantizableLayers.js';
import { writeSimulationModel } from '../../core/quant/simulationWriter.js';
import { calibrateRanges } from '../../core/run/calibrate.js';
import { runLogits } from '../../core/run/logitsRunner.js';
import { PPOCR, ZOO } from '../helpers.js';

const load = (file: string) => {
  const proto = decodeModel(readFileSync(file), file);
  return { proto, graph: buildGraph(proto) };
};
let test: LabelledImages;
let train: LabelledImages;
beforeAll(() => {
  test = loadIdxDataset(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));
  train = loadIdxDataset(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'), join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz'));
});
const SAMPLES = 1000;
const top1 = async (bytes: Uint8Array, optimization: 'disabled' | 'all' = 'all') => {
  const r = await runLogits(bytes, 'm', test, { offset: 0, count: SAMPLES, sampleDims: [1, 28, 28], settings: { optimization } });
  return top1OfLogits(r.logits, test.labels!, 0, r.classes);
};
const calibrated = async (m: ReturnType<typeof load>, cfg: QuantConfig, withOutputs: boolean) => {
  const layers = quantizableLayers(m.proto, m.graph);
  const tensors = layers.flatMap((l) => [l.activation, ...(withOutputs ? [outputRangeTensor(m.graph, l)] : [])]);
  cfg.activations.ranges = await calibrateRanges(m.proto, m.graph, 'm', tensors, train, [1, 28, 28], { method: 'minmax', bits: 8, offset: 55000, samples: 500 });
  return cfg;
};

describe('simulation writer', () => {
  it('writes the same bytes twice from the same config, and records the config', () => {
    const m = load(ZOO[0].file);
    const cfg = defaultQuantConfig(4);
    cfg.weights.layers['/conv1/Conv'] = 8;
    const a = encodeModel(writeSimulationModel(m.proto, m.graph, cfg));
    const b = encodeModel(writeSimulationModel(m.proto, m.graph, cfg));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const meta = decodeModel(a, 'q').metadataProps.find((p) => p.key === 'partita.quant')!;
    expect(JSON.parse(meta.value!)).toMatchObject({ format: 'simulation', weights: { default: 4, layers: { '/conv1/Conv': 8 } } });
  });

  it('top-1 falls as bits fall: 8-bit within 1 point of FP32, 2-bit far below', async () => {
    const m = load(ZOO[0].file);
    const fp32 = await top1(encodeModel(m.proto));
    const at = async (bits: 8 | 2) => top1(encodeModel(writeSimulationModel(m.proto, m.graph, defaultQuantConfig(bits))));
    expect(Math.abs((await at(8)) - fp32)).toBeLessThan(0.01);
    expect(await at(2)).toBeLessThan(fp32 - 0.2);
  });

  it('the fake-quantized activation equals ONNX QuantizeLinear→DequantizeLinear semantics, bit for bit', async () => {
    for (const bits of [8, 5, 3] as const) {
      const m = load(ZOO[2].file);
      const cfg = await calibrated(m, defaultQuantConfig(32, bits), false);
      const sim = writeSimulationModel(m.proto, m.graph, cfg);
      const l = quantizableLayers(m.proto, m.graph)[1];
      const fq = sim.graph!.node!.find((n) => n.name?.startsWith(`${l.activation}_fq${bits}`) && n.opType === 'Mul')!.output![0];
      const s = await ort.InferenceSession.create(encodeModel(withExtraOutputs(sim, [l.activation, fq])), { graphOptimizationLevel: 'disabled' });
      const x = new Float32Array(8 * 784);
      for (let i = 0; i < x.length; i++) x[i] = test.pixels[i] / 255;
      const out = await s.run({ input: new ort.Tensor('float32', x, [8, 1, 28, 28]) });
      const { scale, zeroPoint } = activationQParams(cfg.activations.ranges[l.activation], bits, false);
      const expected = fakeQuantize(out[l.activation].data as Float32Array, scale, zeroPoint, bits, false);
      expect(Buffer.from((out[fq].data as Float32Array).buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    }
  });
});

describe('deployable writers', () => {
  it('INT8 QDQ: ONNX Runtime fuses it into integer kernels and top-1 stays within 1 point', async () => {
    for (const f of [ZOO[0].file, ZOO[2].file]) {
      const m = load(f);
      const cfg = await calibrated(m, defaultQuantConfig(8, 8), true);
      const bytes = encodeModel(writeQdqModel(m.proto, m.graph, cfg));
      const fp32 = await top1(encodeModel(m.proto));
      expect(Math.abs((await top1(bytes)) - fp32)).toBeLessThan(0.01);
    }
  });

  it('INT8 QDQ of an opset-9 third-party model (PP-OCR cls) loads and agrees with FP32', async () => {
    const m = load(PPOCR[2].file);
    // No labelled data ships with PP-OCR: calibrate on seeded synthetic images of the model's input size.
    const dims = [3, 48, 192];
    const n = 16;
    const pixels = Uint8Array.from({ length: n * dims[0] * dims[1] * dims[2] }, (_, i) => (i * 2654435761) >>> 24);
    const synth: LabelledImages = { sampleShape: dims, count: n, pixels, labels: null };
    const layers = quantizableLayers(m.proto, m.graph);
    const cfg = defaultQuantConfig(8, 8);
    cfg.activations.ranges = await calibrateRanges(m.proto, m.graph, 'cls', layers.flatMap((l) => [l.activation, outputRangeTensor(m.graph, l)]), synth, dims, {
      method: 'minmax',
      bits: 8,
      offset: 0,
      samples: 8,
    });
    const q = encodeModel(writeQdqModel(m.proto, m.graph, cfg));
    const a = await runLogits(encodeModel(m.proto), 'cls', synth, { offset: 8, count: 8, sampleDims: dims });
    const b = await runLogits(q, 'cls-q', synth, { offset: 8, count: 8, sampleDims: dims });
    expect(b.classes).toBe(2);
    let err = 0;
    for (let i = 0; i < a.logits.length; i++) err = Math.max(err, Math.abs(a.logits[i] - b.logits[i]));
    expect(err).toBeLessThan(0.1); // softmax probabilities
  });

  it('4-bit MatMulNBits: runs the MLP within 1.5 points of FP32 and ships ~1/7 of the bytes', async () => {
    const m = load(ZOO[2].file);
    const bytes = encodeModel(writeMatMulNBitsModel(m.proto, m.graph, { ...defaultQuantConfig(4), weights: { ...defaultQuantConfig(4).weights, granularity: 'block' } }));
    expect(bytes.length).toBeLessThan(readFileSync(ZOO[2].file).length / 5);
    const fp32 = await top1(encodeModel(m.proto));
    expect(Math.abs((await top1(bytes)) - fp32)).toBeLessThan(0.015);
  });
});

describe('bad quantization input', () => {
  it('refuses unsupported widths, unknown layers, missing calibration and models without quantizable layers', () => {
    const m = load(ZOO[0].file);
    const cfg = defaultQuantConfig(8);
    expect(() => writeSimulationModel(m.proto, m.graph, { ...cfg, weights: { ...cfg.weights, layers: { '/nope': 4 } } })).toThrow(expect.objectContaining({ code: 'quant-layer-unknown' }));
    expect(() => writeSimulationModel(m.proto, m.graph, { ...cfg, weights: { ...cfg.weights, default: 7 as 8 } })).toThrow(expect.objectContaining({ code: 'quant-bits-unsupported' }));
    expect(() => writeSimulationModel(m.proto, m.graph, defaultQuantConfig(8, 8))).toThrow(expect.objectContaining({ code: 'quant-not-calibrated' }));
    expect(() => writeQdqModel(m.proto, m.graph, defaultQuantConfig(8, 8))).toThrow(expect.objectContaining({ code: 'quant-not-calibrated' }));
    expect(() => writeQdqModel(m.proto, m.graph, defaultQuantConfig(4, 8))).toThrow(expect.objectContaining({ code: 'quant-not-deployable' }));
    const noWeights = load(join(import.meta.dirname, '../corpus/bad/good-add.onnx'));
    expect(() => writeSimulationModel(noWeights.proto, noWeights.graph, cfg)).toThrow(expect.objectContaining({ code: 'quant-no-layers' }));
  });
});
