import { performance } from 'node:perf_hooks';
import type { LabelledImages } from '../accuracy/idxDataset.js';
import { CoreError } from '../api/errors.js';
import { quantile } from '../util/stats.js';
import { EmulatedLink, type DuplexLinkSpec } from './linkEmulator.js';
import { WorkerSession } from './ortWorker.js';
import type { SessionSettings } from './ortSession.js';
import type { WireTensor } from './partitionBuilder.js';
import { decodeTensorFrame, encodeTensorFrame, type FrameData, type FrameDType, type FrameTensor } from './tensorFrame.js';

/**
 * Runs a partitioned plan for real on this machine: the head in one ONNX Runtime worker (the device), the tail in
 * another (the server), the cut tensors serialized into a tensor frame and carried over an emulated link, the
 * result sent back the same way. Stages per request (SCIENCE.md's request model):
 *
 *   device   head run                                   (device thread count)
 *   uplink   encode the head's outputs, emulated transfer (RTT/2 + bytes*8/B_up)
 *   server   decode the frame, tail run, encode the result
 *   downlink emulated transfer of the result, decode
 *
 * plus, optionally, a one-time model download (the head's bytes over the downlink) before the first request.
 * Sequential mode runs the four stages of a request before starting the next. Pipelined mode lets the device start
 * request i+1 as soon as it finished request i, while the link and the server handle request i: stages are async,
 * each stage serves its requests in order, at most `maxInFlight` requests are under way, and transfers in the same
 * direction share the link's bandwidth (EmulatedChannel).
 */

/** A run-time tensor: a FrameTensor without its name, or an ort.Tensor (numeric types only). */
export interface InputTensor {
  dims: readonly number[];
  data: ArrayBufferView | readonly unknown[];
  dtype?: FrameDType;
  /** ort.Tensor's name for the element type. */
  type?: string;
}
export type Feeds = Record<string, InputTensor>;

/** Requests drawn from an image set: sample offset+i, pixels scaled to [0, 1], batch 1; labels give accuracy. */
export interface DatasetSlice {
  data: LabelledImages;
  offset: number;
  /** Dims of one sample as the model wants them, e.g. [1, 28, 28]. */
  sampleDims: number[];
  /** Defaults to the first model input. */
  inputName?: string;
}

export interface RunnablePartitions {
  headBytes: Uint8Array | null;
  tailBytes: Uint8Array | null;
  cutTensors: readonly string[];
  /** From buildPartitions; without it every head output crosses as it is. */
  wire?: readonly WireTensor[];
}

export interface LocalRunOptions {
  requests: number;
  deviceThreads?: number;
  serverThreads?: number;
  inputs: Iterable<Feeds> | DatasetSlice;
  /** Labels of the requests when `inputs` is an iterable (a DatasetSlice brings its own). */
  labels?: ArrayLike<number>;
  pipelined?: boolean;
  includeDownload?: boolean;
  /** Pipelined mode: most requests under way at once (default 16; enough to cover the link delay of small models). */
  maxInFlight?: number;
  /** Graph optimisation of both sessions (default 'all', what a deployment would use). */
  optimization?: SessionSettings['optimization'];
  /** Keep every request's result tensors in the report. */
  keepOutputs?: boolean;
  signal?: AbortSignal;
  /** Called as each request's result is in. */
  onProgress?: (done: number, total: number) => void;
}

export interface RequestTiming {
  deviceMs: number;
  /** Head compute time measured inside the device worker. */
  deviceComputeMs: number;
  /** Encoding + emulated transfer of the uplink frame. */
  uplinkMs: number;
  /** Part of the transfer spent behind earlier requests' bytes. */
  uplinkQueuedMs: number;
  /** Decode + tail run + result encoding. */
  serverMs: number;
  serverComputeMs: number;
  /** Emulated result transfer + decode on the device. */
  downlinkMs: number;
  /** From the start of the device stage to the decoded result. */
  latencyMs: number;
  /** Uplink frame bytes (header + data) and the tensor data alone. */
  uplinkBytes: number;
  uplinkPayloadBytes: number;
  downlinkBytes: number;
  /** Labelled requests: the sample's label and the class the result's first output picks. */
  label?: number;
  predictedClass?: number;
}

const ZERO_TIMING: RequestTiming = {
  deviceMs: 0,
  deviceComputeMs: 0,
  uplinkMs: 0,
  uplinkQueuedMs: 0,
  serverMs: 0,
  serverComputeMs: 0,
  downlinkMs: 0,
  latencyMs: 0,
  uplinkBytes: 0,
  uplinkPayloadBytes: 0,
  downlinkBytes: 0,
};

type DeviceOut = { outputs: FrameTensor[]; ms: number };

export interface StageSummary {
  median: number;
  mean: number;
  p90: number;
}

export interface LocalRunReport {
  requests: number;
  pipelined: boolean;
  /** Requests per second over the request phase (download excluded). */
  throughputRps: number;
  /** Wall time of the request phase. */
  requestsMs: number;
  /** Request phase + the model download when included. */
  totalMs: number;
  download: { bytes: number; ms: number } | null;
  stages: Record<'deviceMs' | 'deviceComputeMs' | 'uplinkMs' | 'serverMs' | 'serverComputeMs' | 'downlinkMs' | 'latencyMs', StageSummary>;
  bytes: {
    /** Uplink frame bytes per request (header + data), mean. */
    uplinkPerRequest: number;
    /** Of which tensor data, mean. */
    uplinkPayloadPerRequest: number;
    downlinkPerRequest: number;
    uplinkTotal: number;
    downlinkTotal: number;
  };
  accuracy: { correct: number; total: number; top1: number } | null;
  perRequest: RequestTiming[];
  outputs?: FrameTensor[][];
}

export async function runPlanLocally(parts: RunnablePartitions, link: DuplexLinkSpec, o: LocalRunOptions): Promise<LocalRunReport> {
  if (!Number.isInteger(o.requests) || o.requests < 1) throw new CoreError('run-invalid', `A run needs at least one request; got ${o.requests}.`);
  if (!parts.headBytes && !parts.tailBytes) throw new CoreError('run-invalid', 'The plan has neither a head nor a tail to run. Build the partitions with buildPartitions.');
  const window = o.pipelined ? Math.max(1, o.maxInFlight ?? 16) : 1;
  const emulated = new EmulatedLink(link);
  const optimization = o.optimization ?? 'all';
  let head: WorkerSession | null = null;
  let tail: WorkerSession | null = null;
  try {
    if (parts.headBytes) head = await WorkerSession.create(parts.headBytes, 'head', { threads: o.deviceThreads ?? 1, optimization });
    if (parts.tailBytes) tail = await WorkerSession.create(parts.tailBytes, 'tail', { threads: o.serverThreads ?? 1, optimization });
    const wire = parts.wire ?? (head ? head.outputNames : [...parts.cutTensors]).map((n) => ({ name: n, encoding: 'raw' as const, bits: 32 }));
    const source = requestSource(o, (head ?? tail)!.inputNames);

    const t0 = performance.now();
    let download: LocalRunReport['download'] = null;
    if (o.includeDownload && parts.headBytes) {
      const r = await emulated.down.transfer(parts.headBytes, o.signal);
      download = { bytes: r.bytes, ms: r.ms };
    }

    const device = async (feeds: FrameTensor[]): Promise<DeviceOut> => (head ? head.run(feeds) : { outputs: feeds, ms: 0 });
    const uplink = async (outputs: FrameTensor[]) => {
      const t = performance.now();
      const tensors = wire.map((w) => {
        const x = outputs.find((y) => y.name === w.name);
        if (!x) throw new Error(`the head did not produce wire tensor '${w.name}'`);
        return w.encoding === 'codes' && w.bits < 8 ? { ...x, bits: w.bits } : x;
      });
      const frame = encodeTensorFrame(tensors);
      const r = await emulated.up.transfer(frame, o.signal);
      const payload = tensors.reduce((a, x) => a + (x.bits ? Math.ceil((x.data.length * x.bits) / 8) : x.data.byteLength), 0);
      return { frame: r.data, ms: performance.now() - t, queuedMs: r.queuedMs, payload };
    };
    const server = async (frame: Uint8Array) => {
      const t = performance.now();
      const feeds = decodeTensorFrame(frame).map(({ bits: _bits, ...x }) => x);
      const r = await tail!.run(feeds);
      const result = encodeTensorFrame(r.outputs);
      return { result, ms: performance.now() - t, computeMs: r.ms };
    };
    const downlink = async (result: Uint8Array) => {
      const t = performance.now();
      const r = await emulated.down.transfer(result, o.signal);
      const outputs = decodeTensorFrame(r.data);
      return { outputs, ms: performance.now() - t };
    };

    const timings: RequestTiming[] = [];
    const outputs: FrameTensor[][] = [];
    let correct = 0;
    let labelled = 0;
    let finished = 0;
    /** Everything after the device stage; the server stage waits for `serverTurn` (the previous request's server stage). */
    const finish = async (i: number, req: Request, start: number, dev: DeviceOut, deviceMs: number, serverTurn: Promise<void>, release: () => void) => {
      try {
        const timing: RequestTiming = { ...ZERO_TIMING, deviceMs, deviceComputeMs: dev.ms };
        let result = dev.outputs;
        if (tail) {
          const up = await uplink(dev.outputs);
          Object.assign(timing, { uplinkMs: up.ms, uplinkQueuedMs: up.queuedMs, uplinkBytes: up.frame.length, uplinkPayloadBytes: up.payload });
          await serverTurn;
          const srv = await server(up.frame);
          release();
          Object.assign(timing, { serverMs: srv.ms, serverComputeMs: srv.computeMs, downlinkBytes: srv.result.length });
          const down = await downlink(srv.result);
          timing.downlinkMs = down.ms;
          result = down.outputs;
        }
        timing.latencyMs = performance.now() - start;
        timings[i] = timing;
        if (o.keepOutputs) outputs[i] = result;
        if (req.label !== undefined) {
          labelled++;
          timing.label = req.label;
          timing.predictedClass = argmax(result[0]);
          if (timing.predictedClass === req.label) correct++;
        }
        o.onProgress?.(++finished, o.requests);
      } finally {
        // On failure, still hand the server on, but never before the previous request is through it.
        void serverTurn.then(release);
      }
    };

    const tStart = performance.now();
    let n = 0;
    if (!o.pipelined) {
      for (const req of source.take(o.requests)) {
        if (o.signal?.aborted) throw new CoreError('cancelled', 'The run was cancelled.');
        const start = performance.now();
        const dev = await device(req.feeds);
        await finish(n++, req, start, dev, performance.now() - start, Promise.resolve(), () => undefined);
      }
    } else {
      const inFlight: Promise<void>[] = [];
      let firstError: unknown = null;
      let serverTurn: Promise<void> = Promise.resolve();
      for (const req of source.take(o.requests)) {
        if (n >= window) await inFlight[n - window];
        if (o.signal?.aborted) firstError ??= new CoreError('cancelled', 'The run was cancelled.');
        if (firstError) break;
        const start = performance.now();
        let dev: DeviceOut;
        try {
          dev = await device(req.feeds);
        } catch (e) {
          firstError = e;
          break;
        }
        let release!: () => void;
        const next = new Promise<void>((r) => (release = r));
        inFlight.push(finish(n++, req, start, dev, performance.now() - start, serverTurn, release).catch((e: unknown) => void (firstError ??= e)));
        serverTurn = next;
      }
      await Promise.all(inFlight);
      if (firstError) throw firstError;
    }
    const requestsMs = performance.now() - tStart;
    const col = (k: Exclude<keyof RequestTiming, 'label' | 'predictedClass'>) => summary(timings.map((t) => t[k]));
    const upTotal = timings.reduce((a, t) => a + t.uplinkBytes, 0);
    const downTotal = timings.reduce((a, t) => a + t.downlinkBytes, 0);
    return {
      requests: n,
      pipelined: !!o.pipelined,
      throughputRps: n / (requestsMs / 1000),
      requestsMs,
      totalMs: performance.now() - t0,
      download,
      stages: {
        deviceMs: col('deviceMs'),
        deviceComputeMs: col('deviceComputeMs'),
        uplinkMs: col('uplinkMs'),
        serverMs: col('serverMs'),
        serverComputeMs: col('serverComputeMs'),
        downlinkMs: col('downlinkMs'),
        latencyMs: col('latencyMs'),
      },
      bytes: {
        uplinkPerRequest: n ? upTotal / n : 0,
        uplinkPayloadPerRequest: n ? timings.reduce((a, t) => a + t.uplinkPayloadBytes, 0) / n : 0,
        downlinkPerRequest: n ? downTotal / n : 0,
        uplinkTotal: upTotal,
        downlinkTotal: downTotal,
      },
      accuracy: labelled ? { correct, total: labelled, top1: correct / labelled } : null,
      perRequest: timings,
      ...(o.keepOutputs ? { outputs } : {}),
    };
  } finally {
    await head?.release();
    await tail?.release();
  }
}

interface Request {
  feeds: FrameTensor[];
  label?: number;
}

/** The requests of a run, drawn lazily. */
function requestSource(o: LocalRunOptions, inputNames: readonly string[]): { take(n: number): Iterable<Request> } {
  const inputs = o.inputs;
  if (isDatasetSlice(inputs)) {
    const per = inputs.data.sampleShape.reduce((a, b) => a * b, 1);
    if (inputs.sampleDims.reduce((a, b) => a * b, 1) !== per) {
      throw new CoreError('input-shape-mismatch', `Sample dims [${inputs.sampleDims.join(', ')}] do not hold the dataset's ${inputs.data.sampleShape.join('x')} samples. Give dims with ${per} elements.`);
    }
    if (inputs.offset < 0 || inputs.offset + o.requests > inputs.data.count) {
      throw new CoreError('run-invalid', `Requests ${inputs.offset}..${inputs.offset + o.requests} do not fit the dataset's ${inputs.data.count} samples. Use fewer requests or a smaller offset.`);
    }
    const name = inputs.inputName ?? inputNames[0];
    return {
      *take(n: number) {
        for (let i = 0; i < n; i++) {
          const src = inputs.data.pixels.subarray((inputs.offset + i) * per, (inputs.offset + i + 1) * per);
          const x = Float32Array.from(src, (v) => v / 255);
          const label = inputs.data.labels ? inputs.data.labels[inputs.offset + i] : undefined;
          yield { feeds: [{ name, dtype: 'float32', dims: [1, ...inputs.sampleDims], data: x }], label };
        }
      },
    };
  }
  return {
    *take(n: number) {
      let i = 0;
      for (const feeds of inputs) {
        if (i >= n) return;
        yield { feeds: Object.entries(feeds).map(([name, t]) => toFrameTensor(name, t)), label: o.labels ? o.labels[i] : undefined };
        i++;
      }
    },
  };
}

function isDatasetSlice(v: LocalRunOptions['inputs']): v is DatasetSlice {
  return typeof v === 'object' && v !== null && 'data' in v && 'sampleDims' in v && !(Symbol.iterator in v);
}

function toFrameTensor(name: string, t: InputTensor): FrameTensor {
  const dtype = t.dtype ?? t.type;
  const data = t.data;
  if (!dtype || !FRAME_DTYPES.has(dtype) || !ArrayBuffer.isView(data) || data instanceof DataView) {
    throw new CoreError('input-type-unsupported', `Input '${name}' is not a numeric tensor (type '${String(dtype)}'). Pass float, integer or bool tensors with typed-array data.`);
  }
  return { name, dtype: dtype as FrameDType, dims: [...t.dims], data: data as FrameData };
}

const FRAME_DTYPES = new Set<string>(['float32', 'float16', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool']);

/** The class a result tensor picks (index of its largest value). */
export function argmax(t: FrameTensor): number {
  const d = t.data;
  let best = 0;
  for (let i = 1; i < d.length; i++) if (Number(d[i]) > Number(d[best])) best = i;
  return best;
}

function summary(values: number[]): StageSummary {
  return { median: quantile(values, 0.5), mean: values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN, p90: quantile(values, 0.9) };
}
