import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { beforeAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR, loadIdxDataset, type LabelledImages } from '../../core/accuracy/idxDataset.js';
import { isCoreError } from '../../core/api/errors.js';
import { buildGraph, type ModelGraph } from '../../core/onnx/graph.js';
import type { onnx } from '../../core/onnx/generated/onnxProto.js';
import { decodeModel, encodeModel } from '../../core/onnx/modelCodec.js';
import { quantizableLayers } from '../../core/quant/quantizableLayers.js';
import { calibrateRanges } from '../../core/run/calibrate.js';
import { EmulatedChannel, EmulatedLink, sleepUntil, transfer, transferTimeMs } from '../../core/run/linkEmulator.js';
import { runPlanLocally, type Feeds } from '../../core/run/localRun.js';
import { runLogits } from '../../core/run/logitsRunner.js';
import { createSession, ort } from '../../core/run/ortSession.js';
import { buildPartitions, partitionRangeTensors, writePlanReference, type PartitionPlan } from '../../core/run/partitionBuilder.js';
import { probeShapes, type TensorShape } from '../../core/run/shapeProbe.js';
import { ZOO } from '../helpers.js';

describe('link emulation', () => {
  it('a transfer of N bytes at B bit/s takes RTT/2 + N*8/B: never less, and less than 50 ms more', async () => {
    for (const [bytes, bps, rtt] of [
      [100_000, 10e6, 20],
      [12_345, 1e6, 0],
      [1, 1e9, 5],
      [0, 1e6, 0],
      [250_000, 100e6, 1],
    ] as const) {
      const data = new Uint8Array(bytes).fill(7);
      const r = await transfer(data, { bandwidthBps: bps, rttMs: rtt });
      const theory = rtt / 2 + ((bytes * 8) / bps) * 1000;
      expect(r.theoreticalMs).toBeCloseTo(theory, 9);
      expect(r.ms).toBeGreaterThanOrEqual(theory);
      expect(r.ms).toBeLessThan(theory + 50);
      expect(r.bytes).toBe(bytes);
      // The delivered bytes are the sent bytes, as a copy.
      expect(Buffer.from(r.data).equals(Buffer.from(data))).toBe(true);
      if (bytes > 0) expect(r.data.buffer).not.toBe(data.buffer);
    }
  });

  it('transfers on one channel share its bandwidth; propagation overlaps', async () => {
    const ch = new EmulatedChannel({ bandwidthBps: 8e6, rttMs: 40 });
    const t0 = performance.now();
    const n = 3;
    // 10 kB at 8 Mbit/s = 10 ms on the wire each; 20 ms propagation.
    const rs = await Promise.all(Array.from({ length: n }, () => ch.transfer(new Uint8Array(10_000))));
    const total = performance.now() - t0;
    expect(total).toBeGreaterThanOrEqual(n * 10 + 20);
    expect(total).toBeLessThan(n * 10 + 20 + 50);
    expect(rs[2].queuedMs).toBeGreaterThanOrEqual(19);
    // Sequential stop-and-wait would have taken n * 30 ms.
    expect(total).toBeLessThan(n * 30);
  });

  it('sleeps until the deadline, never before', async () => {
    for (const ms of [0, 0.3, 1, 2.5, 7]) {
      const deadline = performance.now() + ms;
      await sleepUntil(deadline);
      expect(performance.now()).toBeGreaterThanOrEqual(deadline);
    }
  });

  it('refuses a link without a positive bandwidth or with a negative RTT', () => {
    for (const l of [{ bandwidthBps: 0, rttMs: 1 }, { bandwidthBps: -5, rttMs: 1 }, { bandwidthBps: Number.NaN, rttMs: 1 }, { bandwidthBps: 1e6, rttMs: -1 }, { bandwidthBps: Infinity, rttMs: 0 }]) {
      expect(() => new EmulatedChannel(l)).toThrow(expect.objectContaining({ code: 'link-invalid' }));
    }
    expect(() => new EmulatedLink({ uplinkBps: 1e6, downlinkBps: 0, rttMs: 10 })).toThrow(/downlink/);
    expect(transferTimeMs(1000, { bandwidthBps: 8000, rttMs: 10 })).toBe(1005);
  });
});

describe('running a plan locally', () => {
  let test: LabelledImages;
  let train: LabelledImages;
  let proto: onnx.IModelProto;
  let graph: ModelGraph;
  let shapes: Map<string, TensorShape>;
  const LINK = { uplinkBps: 10e6, downlinkBps: 10e6, rttMs: 20 };
  const slice = (offset = 0) => ({ data: test, offset, sampleDims: [1, 28, 28] });
  const planAt = (cut: number, bits: number, activationBits: number | null): PartitionPlan => {
    const q = new Set(quantizableLayers(proto, graph).map((l) => l.position));
    return { cut, bits: graph.layers.slice(0, cut).map((l) => (q.has(l.position) ? bits : 32)), activationBits };
  };
  const rangesFor = async (plan: PartitionPlan) => {
    const need = partitionRangeTensors(proto, graph, plan, 'simulation', shapes);
    return need.length ? calibrateRanges(proto, graph, 'cnn', need, train, [1, 28, 28], { method: 'minmax', bits: 8, offset: 55000, samples: 300 }) : {};
  };

  beforeAll(async () => {
    test = loadIdxDataset(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));
    train = loadIdxDataset(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'), join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz'));
    proto = decodeModel(readFileSync(ZOO[0].file), 'fmnist-cnn');
    graph = buildGraph(proto);
    shapes = await probeShapes(proto, graph, 'cnn', { input: [1, 1, 28, 28] });
  });

  it('delivers exactly what the whole model computes: FP32, and a 3-bit packed link against the reference', async () => {
    const n = 20;
    const cut = 7;
    for (const [bits, act] of [
      [32, 32],
      [4, 3],
    ] as const) {
      const plan = planAt(cut, bits, act);
      const ranges = await rangesFor(plan);
      const parts = buildPartitions(proto, graph, plan, { ranges }, shapes);
      const whole = act === 32 ? encodeModel(proto) : encodeModel(writePlanReference(proto, graph, plan, { ranges }, shapes));
      const r = await runPlanLocally(parts, LINK, { requests: n, inputs: slice(), optimization: 'disabled', keepOutputs: true });
      const s = await createSession(whole, 'whole', { optimization: 'disabled' });
      for (let i = 0; i < n; i++) {
        const x = Float32Array.from(test.pixels.subarray(i * 784, (i + 1) * 784), (v) => v / 255);
        const want = (await s.run({ input: new ort.Tensor('float32', x, [1, 1, 28, 28]) }))[s.outputNames[0]].data as Float32Array;
        const got = r.outputs![i][0].data as Float32Array;
        expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength))).toBe(true);
      }
      await s.release();
      // Bytes on the wire: the frame carries the packed payload plus a small header.
      expect(r.bytes.uplinkPayloadPerRequest).toBe(parts.uplinkPayloadBytes);
      expect(r.bytes.uplinkPerRequest - r.bytes.uplinkPayloadPerRequest).toBeGreaterThan(0);
      expect(r.bytes.uplinkPerRequest - r.bytes.uplinkPayloadPerRequest).toBeLessThan(200);
      if (act === 3) expect(r.bytes.uplinkPayloadPerRequest).toBe(Math.ceil((shapes.get(parts.cutTensors[0])!.bytes / 4) * 3 / 8));
      // Each request's uplink took at least its emulated transfer time.
      for (const t of r.perRequest) expect(t.uplinkMs).toBeGreaterThanOrEqual(transferTimeMs(t.uplinkBytes, { bandwidthBps: LINK.uplinkBps, rttMs: LINK.rttMs }));
      for (const t of r.perRequest) expect(t.downlinkMs).toBeGreaterThanOrEqual(transferTimeMs(t.downlinkBytes, { bandwidthBps: LINK.downlinkBps, rttMs: LINK.rttMs }));
    }
  });

  it('reports top-1 on labelled requests: the FP32 partition matches the whole model', async () => {
    const n = 100;
    const parts = buildPartitions(proto, graph, planAt(5, 32, 32), {}, shapes);
    const r = await runPlanLocally(parts, { uplinkBps: 1e9, downlinkBps: 1e9, rttMs: 0 }, { requests: n, inputs: slice(200), pipelined: true });
    const whole = await runLogits(encodeModel(proto), 'cnn', test, { offset: 200, count: n, sampleDims: [1, 28, 28] });
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const row = whole.logits.subarray(i * 10, i * 10 + 10);
      if (row.indexOf(Math.max(...row)) === test.labels![200 + i]) correct++;
    }
    expect(r.accuracy).toEqual({ correct, total: n, top1: correct / n });
    expect(r.accuracy!.top1).toBeGreaterThan(0.8);
  });

  it('pipelining raises throughput over an emulated link (50 requests of fmnist-cnn)', async () => {
    const plan = planAt(7, 8, 8);
    const parts = buildPartitions(proto, graph, plan, { ranges: await rangesFor(plan) }, shapes);
    const opts = { requests: 50, inputs: slice(), deviceThreads: 1, serverThreads: 1 };
    const sequential = await runPlanLocally(parts, LINK, { ...opts, pipelined: false });
    const pipelined = await runPlanLocally(parts, LINK, { ...opts, pipelined: true });
    expect(sequential.requests).toBe(50);
    expect(pipelined.requests).toBe(50);
    expect(pipelined.throughputRps).toBeGreaterThanOrEqual(sequential.throughputRps);
    // Sequential requests each wait out both link delays at least.
    expect(sequential.requestsMs).toBeGreaterThanOrEqual(50 * LINK.rttMs);
    expect(pipelined.accuracy).toEqual(sequential.accuracy);
  });

  it('downloads the head once when asked, and runs the edge cuts 0 and L', async () => {
    const L = graph.layers.length;
    const mid = buildPartitions(proto, graph, planAt(7, 32, 32), {}, shapes);
    const r = await runPlanLocally(mid, LINK, { requests: 3, inputs: slice(), includeDownload: true });
    expect(r.download!.bytes).toBe(mid.headBytes!.length);
    expect(r.download!.ms).toBeGreaterThanOrEqual(transferTimeMs(mid.headBytes!.length, { bandwidthBps: LINK.downlinkBps, rttMs: LINK.rttMs }));
    expect(r.totalMs).toBeGreaterThanOrEqual(r.download!.ms + r.requestsMs);

    // cut 0: nothing on the device but the (quantized) input on the wire.
    for (const act of [32, 8]) {
      const plan = planAt(0, 32, act);
      const p0 = buildPartitions(proto, graph, plan, { ranges: await rangesFor(plan) }, shapes);
      const r0 = await runPlanLocally(p0, LINK, { requests: 5, inputs: slice(), includeDownload: true, pipelined: true });
      expect(r0.bytes.uplinkPayloadPerRequest).toBe((784 * act) / 8);
      expect(r0.accuracy!.total).toBe(5);
      if (act === 32) expect(r0.download).toBeNull();
    }
    // cut L: everything on the device, nothing on the link.
    const pL = buildPartitions(proto, graph, planAt(L, 8, null), {}, shapes);
    const rL = await runPlanLocally(pL, LINK, { requests: 5, inputs: slice(), pipelined: true });
    expect(rL.bytes.uplinkTotal).toBe(0);
    expect(rL.stages.uplinkMs.median).toBe(0);
    expect(rL.accuracy!.total).toBe(5);
  });

  it('takes an iterable of feeds with labels, and refuses bad runs', async () => {
    const parts = buildPartitions(proto, graph, planAt(7, 32, 32), {}, shapes);
    function* feeds(): Generator<Feeds> {
      for (let i = 0; i < 4; i++) {
        const x = Float32Array.from(test.pixels.subarray(i * 784, (i + 1) * 784), (v) => v / 255);
        yield { input: new ort.Tensor('float32', x, [1, 1, 28, 28]) };
      }
    }
    const r = await runPlanLocally(parts, LINK, { requests: 10, inputs: feeds(), labels: test.labels!.subarray(0, 4) });
    expect(r.requests).toBe(4);
    expect(r.accuracy!.total).toBe(4);
    const code = async (f: () => Promise<unknown>) => {
      try {
        await f();
      } catch (e) {
        return isCoreError(e) ? e.code : String(e);
      }
      return 'no error';
    };
    expect(await code(() => runPlanLocally(parts, LINK, { requests: 0, inputs: slice() }))).toBe('run-invalid');
    expect(await code(() => runPlanLocally(parts, LINK, { requests: 1, inputs: [{ input: new ort.Tensor('string', ['a'], [1]) }] }))).toBe('input-type-unsupported');
    expect(await code(() => runPlanLocally(parts, LINK, { requests: 5, inputs: slice(9998) }))).toBe('run-invalid');
    expect(await code(() => runPlanLocally(parts, LINK, { requests: 1, inputs: { data: test, offset: 0, sampleDims: [1, 28, 27] } }))).toBe('input-shape-mismatch');
    expect(await code(() => runPlanLocally(parts, { ...LINK, uplinkBps: 0 }, { requests: 1, inputs: slice() }))).toBe('link-invalid');
    expect(await code(() => runPlanLocally({ ...parts, tailBytes: new Uint8Array([1, 2, 3]) }, LINK, { requests: 1, inputs: slice() }))).toBe('model-runtime-rejected');
    const controller = new AbortController();
    controller.abort();
    expect(await code(() => runPlanLocally(parts, LINK, { requests: 5, inputs: slice(), pipelined: true, signal: controller.signal }))).toBe('cancelled');
    expect(await code(() => runPlanLocally(parts, LINK, { requests: 5, inputs: slice(), signal: controller.signal }))).toBe('cancelled');
  });
});
