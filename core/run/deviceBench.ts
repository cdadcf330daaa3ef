import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { buildGraph } from '../onnx/graph.js';
import type { onnx } from '../onnx/generated/onnxProto.js';
import { encodeModel } from '../onnx/modelCodec.js';
import { floatTensor } from '../onnx/tensorBuilders.js';
import type { DeviceProfile } from '../plan/devices.js';
import { writeMatMulNBitsModel } from '../quant/matMulNBitsWriter.js';
import { writeQdqModel } from '../quant/qdqWriter.js';
import { defaultQuantConfig } from '../quant/quantConfig.js';
import { uniformFloats } from '../util/random.js';
import { median } from '../util/stats.js';
import { createSession, ort } from './ortSession.js';

const F = 1;
const vi = (name: string, dims: number[]): onnx.IValueInfoProto => ({ name, type: { tensorType: { elemType: F, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });

function model(nodes: onnx.INodeProto[], inits: onnx.ITensorProto[], x: number[], y: number[]): onnx.IModelProto {
  return { irVersion: 8, opsetImport: [{ domain: '', version: 13 }], graph: { name: 'bench', node: nodes, initializer: inits, input: [vi('x', x)], output: [vi('y', y)] } };
}

async function timeMs(bytes: Uint8Array, dims: number[], threads: number, runs: number, signal?: AbortSignal): Promise<number> {
  const s = await createSession(bytes, 'device-bench', { optimization: 'all', threads });
  try {
    const x = new ort.Tensor('float32', uniformFloats(dims.reduce((a, b) => a * b, 1), 3, 1), dims);
    for (let i = 0; i < 5; i++) await s.run({ x });
    const t: number[] = [];
    for (let i = 0; i < runs; i++) {
      if (signal?.aborted) throw new Error('cancelled');
      const t0 = performance.now();
      await s.run({ x });
      t.push(performance.now() - t0);
    }
    return median(t);
  } finally {
    await s.release();
  }
}

/**
 * Measures this host with onnxruntime-node micro-benchmarks and returns a device profile in the planner's format:
 * a 3x3 convolution (64 -> 64 channels, 28x28) in FP32 and as fused INT8 QDQ, a 1x2048 by 2048x2048 MatMul in FP32
 * and as 4-bit MatMulNBits (the int4 rate scales the FP32 rate by their speed ratio), an element-wise Add for the
 * memory-bound rate, and a chain of tiny Relus for the per-layer overhead. Power cannot be measured from here: it
 * is left at the values given (default: zeros, which makes energy objectives meaningless until filled in).
 */
export async function benchHostDevice(
  name: string,
  o: { threads?: number; runs?: number; power?: DeviceProfile['power']; onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {},
): Promise<DeviceProfile> {
  const threads = o.threads ?? 1;
  const runs = o.runs ?? 30;
  const step = (() => {
    let done = 0;
    return () => o.onProgress?.(++done, 7);
  })();

  const c = 64;
  const hw = 28;
  const conv = model(
    [{ name: 'conv', opType: 'Conv', input: ['x', 'w', 'b'], output: ['y'], attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }] }],
    [floatTensor('w', [c, c, 3, 3], uniformFloats(c * c * 9, 1, 0.1)), floatTensor('b', [c], uniformFloats(c, 2, 0.1))],
    [1, c, hw, hw],
    [1, c, hw, hw],
  );
  const convMacs = c * hw * hw * c * 9;
  const fp32Conv = await timeMs(encodeModel(conv), [1, c, hw, hw], threads, runs, o.signal);
  step();
  const g = buildGraph(conv);
  const cfg = defaultQuantConfig(8, 8);
  cfg.activations.ranges = { x: { min: -0.5, max: 0.5 }, y: { min: -4, max: 4 } };
  const int8Conv = await timeMs(encodeModel(writeQdqModel(conv, g, cfg)), [1, c, hw, hw], threads, runs, o.signal);
  step();

  const k = 2048;
  const mm = model([{ name: 'mm', opType: 'MatMul', input: ['x', 'w'], output: ['y'] }], [floatTensor('w', [k, k], uniformFloats(k * k, 4, 0.1))], [1, k], [1, k]);
  const fp32Mm = await timeMs(encodeModel(mm), [1, k], threads, runs, o.signal);
  step();
  const cfg4 = defaultQuantConfig(4);
  cfg4.weights.granularity = 'block';
  const int4Mm = await timeMs(encodeModel(writeMatMulNBitsModel(mm, buildGraph(mm), cfg4)), [1, k], threads, runs, o.signal);
  step();

  const n = 1 << 22;
  const add = model([{ name: 'add', opType: 'Add', input: ['x', 'x'], output: ['y'] }], [], [n], [n]);
  const addMs = await timeMs(encodeModel(add), [n], threads, runs, o.signal);
  step();

  const chain = 100;
  const relus = model(
    Array.from({ length: chain }, (_, i) => ({ name: `r${i}`, opType: 'Relu', input: [i === 0 ? 'x' : `t${i - 1}`], output: [i === chain - 1 ? 'y' : `t${i}`] })),
    [],
    [1],
    [1],
  );
  // Unoptimised would be fairer per node, but 'all' keeps what a deployment sees; Relu chains are not fused.
  const chainMs = await timeMs(encodeModel(relus), [1], threads, runs, o.signal);
  step();

  // One tiny node: the runtime call itself (handing a tensor in and out) plus one layer.
  const single = model([{ name: 'r', opType: 'Relu', input: ['x'], output: ['y'] }], [], [1], [1]);
  const singleMs = await timeMs(encodeModel(single), [1], threads, runs, o.signal);
  step();

  const fp32 = (convMacs / fp32Conv) * 1000;
  return {
    name,
    kind: 'measured',
    source: `measured on this host (${cpus()[0]?.model ?? 'unknown CPU'}, ${threads} thread(s)) with onnxruntime-node ${ort.env.versions.node ?? ''}, ${runs} runs per kernel`,
    threads,
    macsPerSecond: { fp32, int8: (convMacs / int8Conv) * 1000, int4: fp32 * (fp32Mm / int4Mm) },
    elementsPerSecond: (n / addMs) * 1000,
    layerOverheadMs: chainMs / chain,
    inferenceOverheadMs: Math.max(0, singleMs - chainMs / chain),
    memoryBytes: totalmem(),
    power: o.power ?? { computeW: 0, idleW: 0, txW: 0, rxW: 0 },
  };
}
