import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { CoreError } from '../api/errors.js';
import { onnx } from '../onnx/generated/onnxProto.js';
import { decodeModel, forEachTensor } from '../onnx/modelCodec.js';
import { sha256Hex } from '../util/hash.js';
import {
  AGENT_PROTOCOL_VERSION,
  AGENT_WS_PROTOCOL,
  CLOSE_CODES,
  DEFAULT_AGENT_LIMITS,
  hubMessageSchema,
  parseControl,
  toBuffer,
  type AgentHardware,
  type AgentLimits,
  type AgentMessage,
  type HubMessage,
  type ProtocolFailure,
} from './agentProtocol.js';
import { benchHostDevice } from './deviceBench.js';
import { createSession, ort } from './ortSession.js';
import { decodeTensorFrame, encodeTensorFrame, type FrameTensor } from './tensorFrame.js';

/**
 * The device agent: a process on the edge device that connects to a workbench hub (agentHub.ts), reports its
 * hardware, answers benchmarks, keeps the head models it was sent (by SHA-256, so a model crosses once), runs
 * requests through them with onnxruntime-node and streams the cut tensors back.
 *
 * What it will run is deliberately narrow: ONNX models in onnxruntime-node with session options the agent chooses
 * (no custom-op libraries, no external-data files: a head that points at files on the device is refused, since its
 * "weights" would be the device's files and its outputs would carry them to the hub). There is no eval and no shell;
 * the hub can only send models, tensors and benchmark requests.
 *
 * The connection: WebSocket to `server`, pairing token as `Authorization: Bearer`, heartbeats from the hub answered
 * with pongs, and a watchdog that drops a connection after 3 silent heartbeat periods. When the connection drops,
 * it reconnects with exponential backoff (initialMs * 2^attempt, capped at maxMs, each delay shortened by a random
 * fraction up to `jitter` so a fleet of agents does not reconnect in lockstep), resetting after each welcome. A
 * refused token is final: it cannot become valid by retrying.
 */

export interface DeviceAgentOptions {
  /** ws://HOST:PORT/agent of the hub. */
  server: string;
  token: string;
  name: string;
  limits?: Partial<AgentLimits>;
  backoff?: { initialMs?: number; maxMs?: number; jitter?: number; maxAttempts?: number };
  /** Head models kept, by total bytes (default 1 GiB; least recently used go first). */
  cacheBytes?: number;
  /** Hardware to report (default: this host's). */
  hardware?: AgentHardware;
  log?: (line: string) => void;
  /** For deterministic tests of the backoff. */
  random?: () => number;
}

export interface DeviceAgent {
  /** Resolves once stopped; rejects on a fatal error (refused token, retries exhausted). */
  readonly done: Promise<void>;
  readonly connected: boolean;
  stop(): Promise<void>;
}

export function hostHardware(): AgentHardware {
  const c = cpus();
  return {
    cpu: (c[0]?.model ?? 'unknown CPU').trim().slice(0, 200),
    cores: Math.max(1, c.length),
    memoryBytes: totalmem(),
    arch: process.arch,
    platform: process.platform,
    node: process.version,
    ort: String(ort.env.versions.node ?? 'unknown').slice(0, 40),
  };
}

/** Delay before reconnection attempt `attempt` (0-based). */
export function backoffDelayMs(attempt: number, o: { initialMs: number; maxMs: number; jitter: number }, random: () => number = Math.random): number {
  const base = Math.min(o.maxMs, o.initialMs * 2 ** Math.min(attempt, 30));
  return base * (1 - o.jitter * random());
}

/** Refuses a head whose tensors live outside the model bytes (external data): the agent only runs self-contained models. */
export function checkSelfContained(bytes: Uint8Array): void {
  const model = decodeModel(bytes, 'head');
  forEachTensor(model, (t) => {
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData?.length ?? 0) > 0) {
      throw new CoreError('model-external-data', `Tensor '${String(t.name).slice(0, 80)}' of the head points at external data. The agent runs self-contained models only; embed the weights in the .onnx.`);
    }
  });
}

interface CachedModel {
  bytes: Uint8Array;
  sessions: Map<string, Promise<ort.InferenceSession>>;
  usedAt: number;
}

/** Head models by SHA-256, least recently used evicted past the byte budget. Survives reconnections. */
class ModelCache {
  private readonly models = new Map<string, CachedModel>();
  constructor(private readonly maxBytes: number) {}

  has(sha: string): boolean {
    return this.models.has(sha);
  }
  list(): string[] {
    return [...this.models.keys()];
  }
  put(sha: string, bytes: Uint8Array): void {
    this.models.set(sha, { bytes, sessions: new Map(), usedAt: performance.now() });
    let total = [...this.models.values()].reduce((a, m) => a + m.bytes.length, 0);
    for (const [k, m] of [...this.models].sort((a, b) => a[1].usedAt - b[1].usedAt)) {
      if (total <= this.maxBytes || k === sha) continue;
      this.models.delete(k);
      total -= m.bytes.length;
      for (const s of m.sessions.values()) void s.then((x) => x.release()).catch(() => undefined);
    }
  }
  session(sha: string, threads: number, optimization: 'disabled' | 'basic' | 'extended' | 'all'): Promise<ort.InferenceSession> {
    const m = this.models.get(sha);
    if (!m) throw new CoreError('model-unknown', `The agent has no model ${sha.slice(0, 12)}…. Offer it with model.offer first.`);
    m.usedAt = performance.now();
    const key = `${threads}:${optimization}`;
    let s = m.sessions.get(key);
    if (!s) {
      s = createSession(m.bytes, `head ${sha.slice(0, 12)}`, { threads, optimization });
      s.catch(() => m.sessions.delete(key));
      m.sessions.set(key, s);
    }
    return s;
  }
  async release(): Promise<void> {
    for (const m of this.models.values()) for (const s of m.sessions.values()) await s.then((x) => x.release()).catch(() => undefined);
    this.models.clear();
  }
}

interface RunState {
  sha256: string;
  requests: number;
  wire: { name: string; bits?: number }[];
  session: Promise<ort.InferenceSession>;
  nextIndex: number;
  chain: Promise<void>;
  cancelled: boolean;
}

type Expected = { kind: 'model'; id: string; sha256: string; bytes: number } | { kind: 'input'; runId: string; index: number; bytes: number };

export function startDeviceAgent(o: DeviceAgentOptions): DeviceAgent {
  const limits = { ...DEFAULT_AGENT_LIMITS, ...o.limits };
  const backoff = { initialMs: 500, maxMs: 30_000, jitter: 0.3, maxAttempts: Infinity, ...o.backoff };
  const log = o.log ?? (() => undefined);
  const cache = new ModelCache(o.cacheBytes ?? 2 ** 30);
  const hardware = o.hardware ?? hostHardware();
  let stopped = false;
  let current: WebSocket | null = null;
  let connected = false;
  let wakeSleep: (() => void) | null = null;

  /** One connection, from open to close. Resolves with whether the hub welcomed us; rejects when the token is refused. */
  const connectOnce = () =>
    new Promise<boolean>((resolve, reject) => {
      let welcomed = false;
      let lastHeard = performance.now();
      let heartbeatMs = 5000;
      let expected: Expected | null = null;
      const runs = new Map<string, RunState>();
      const ws = new WebSocket(o.server, AGENT_WS_PROTOCOL, {
        headers: { authorization: `Bearer ${o.token}` },
        maxPayload: Math.max(limits.maxModelBytes, limits.maxFrameBytes) + 1024,
        perMessageDeflate: false,
        handshakeTimeout: 10_000,
      });
      current = ws;
      const watchdog = setInterval(() => {
        const silentMs = performance.now() - lastHeard;
        if (silentMs > (welcomed ? 3 * heartbeatMs : 15_000)) {
          log(`no word from the hub for ${Math.round(silentMs)} ms; dropping the connection`);
          ws.terminate();
        }
      }, 250);
      watchdog.unref();

      const send = (msg: AgentMessage): void => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
      };
      const fail = (f: ProtocolFailure, id: string | null = null): void => {
        log(`protocol error: ${f.message}`);
        send({ type: 'error', id, code: f.code, message: f.message });
        if (ws.readyState === WebSocket.OPEN) ws.close(f.close, f.code);
      };
      const answerError = (id: string | null, e: unknown): void => {
        const err = e instanceof CoreError ? e : new CoreError('agent-internal', `The agent failed: ${String((e as Error)?.message ?? e).slice(0, 500)}.`);
        send({ type: 'error', id, code: err.code, message: err.message.slice(0, 2000) });
      };

      ws.on('unexpected-response', (_req, res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        ws.terminate();
        if (status === 401 || status === 403) reject(new CoreError('agent-unauthorized', `The workbench at '${o.server}' refused the pairing token (HTTP ${status}). Create a new pairing token in the workbench and start the agent with it.`));
      });
      ws.on('open', () => {
        lastHeard = performance.now();
        send({ type: 'hello', v: AGENT_PROTOCOL_VERSION, agentName: o.name, hardware, cachedModels: cache.list().slice(0, 1000) });
      });
      ws.on('error', (e) => log(`connection error: ${(e as Error).message}`));
      ws.on('close', (code, reason) => {
        clearInterval(watchdog);
        connected = false;
        for (const r of runs.values()) r.cancelled = true;
        if (welcomed) log(`disconnected (${code}${reason.length ? ` ${reason.toString('utf8').slice(0, 100)}` : ''})`);
        if (current === ws) current = null;
        resolve(welcomed);
      });

      const onBinary = (buf: Buffer): void => {
        const exp = expected;
        expected = null;
        if (!exp) return fail({ code: 'agent-protocol', message: `An unannounced binary frame of ${buf.length} bytes arrived from the hub. Announce every binary frame with its JSON header first.`, close: CLOSE_CODES.unsupportedData });
        if (buf.length !== exp.bytes) {
          return fail({ code: buf.length > exp.bytes ? 'frame-too-large' : 'agent-protocol', message: `A binary frame of ${buf.length} bytes arrived where ${exp.bytes} were announced. Send exactly the announced bytes.`, close: buf.length > exp.bytes ? CLOSE_CODES.tooBig : CLOSE_CODES.policy }, exp.kind === 'model' ? exp.id : exp.runId);
        }
        if (exp.kind === 'model') {
          const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).slice();
          const got = sha256Hex(bytes);
          if (got !== exp.sha256) return fail({ code: 'model-hash-mismatch', message: `The uploaded model hashes to ${got.slice(0, 12)}…, not the announced ${exp.sha256.slice(0, 12)}…. Upload the bytes that were offered.`, close: CLOSE_CODES.policy }, exp.id);
          try {
            checkSelfContained(bytes);
          } catch (e) {
            return answerError(exp.id, e);
          }
          cache.put(exp.sha256, bytes);
          log(`received head model ${exp.sha256.slice(0, 12)}… (${bytes.length} bytes)`);
          return send({ type: 'model.have', id: exp.id, sha256: exp.sha256 });
        }
        const run = runs.get(exp.runId);
        if (!run || run.cancelled) return;
        const frame = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
        const started = performance.now();
        run.chain = run.chain.then(async () => {
          if (run.cancelled) return;
          let feeds: FrameTensor[];
          try {
            feeds = decodeTensorFrame(frame, { maxFrameBytes: limits.maxFrameBytes });
          } catch (e) {
            run.cancelled = true;
            const f = e as CoreError;
            return fail({ code: f.code ?? 'frame-malformed', message: f.message, close: CLOSE_CODES.invalidPayload }, exp.runId);
          }
          const session = await run.session;
          const inputs: Record<string, ort.Tensor> = {};
          for (const t of feeds) {
            if (!session.inputNames.includes(t.name)) throw new CoreError('run-input-unknown', `Input '${t.name.slice(0, 80)}' is not an input of the head (${session.inputNames.join(', ')}). Send the head's inputs.`);
            inputs[t.name] = new ort.Tensor(t.dtype, t.data as never, t.dims);
          }
          const t0 = performance.now();
          const out = await session.run(inputs);
          const computeMs = performance.now() - t0;
          const tensors: FrameTensor[] = run.wire.map((w) => {
            const x = out[w.name];
            if (!x) throw new CoreError('run-output-unknown', `The head has no output '${w.name.slice(0, 80)}' (it has ${session.outputNames.join(', ')}). Build the partitions again.`);
            return { name: w.name, dtype: x.type as FrameTensor['dtype'], dims: [...x.dims], data: x.data as FrameTensor['data'], ...(w.bits !== undefined ? { bits: w.bits } : {}) };
          });
          const encoded = encodeTensorFrame(tensors);
          const deviceMs = performance.now() - started;
          if (run.cancelled || ws.readyState !== WebSocket.OPEN) return;
          send({ type: 'run.timing', runId: exp.runId, index: exp.index, deviceMs, computeMs, bytes: encoded.length });
          ws.send(encoded);
        }).catch((e: unknown) => {
          run.cancelled = true;
          answerError(exp.runId, e);
        });
        if (exp.index === run.requests - 1) void run.chain.then(() => runs.delete(exp.runId));
      };

      const onControl = (msg: HubMessage): void => {
        if (!welcomed && msg.type !== 'welcome' && msg.type !== 'error') {
          return fail({ code: 'agent-protocol', message: `Message '${msg.type}' arrived before 'welcome'. The hub must welcome the agent first.`, close: CLOSE_CODES.policy });
        }
        switch (msg.type) {
          case 'welcome':
            welcomed = true;
            connected = true;
            heartbeatMs = msg.heartbeatMs;
            log(`attached to ${o.server} as '${o.name}' (agent ${msg.agentId})`);
            return;
          case 'heartbeat':
            return send({ type: 'pong', seq: msg.seq });
          case 'error':
            log(`the hub reports ${msg.code}: ${msg.message}`);
            return;
          case 'bench.request':
            void benchHostDevice(o.name, { runs: msg.runs, threads: Math.min(msg.threads, hardware.cores) }).then(
              (profile) => send({ type: 'bench.result', id: msg.id, profile: { ...profile, kind: 'measured' } }),
              (e: unknown) => answerError(msg.id, e),
            );
            return;
          case 'model.offer':
            return send(cache.has(msg.sha256) ? { type: 'model.have', id: msg.id, sha256: msg.sha256 } : { type: 'model.need', id: msg.id, sha256: msg.sha256 });
          case 'model.upload':
            if (msg.bytes > limits.maxModelBytes) {
              return fail({ code: 'frame-too-large', message: `The model upload announces ${msg.bytes} bytes; this agent accepts at most ${limits.maxModelBytes}. Start the agent with a larger limit or use a smaller head.`, close: CLOSE_CODES.tooBig }, msg.id);
            }
            expected = { kind: 'model', id: msg.id, sha256: msg.sha256, bytes: msg.bytes };
            return;
          case 'run.request': {
            if (runs.has(msg.runId)) return fail({ code: 'agent-protocol', message: `Run '${msg.runId}' is already under way. Use a fresh run id.`, close: CLOSE_CODES.policy }, msg.runId);
            let session: Promise<ort.InferenceSession>;
            try {
              session = cache.session(msg.sha256, Math.min(msg.threads, hardware.cores), msg.optimization);
            } catch (e) {
              return answerError(msg.runId, e);
            }
            session.catch(() => undefined);
            runs.set(msg.runId, { sha256: msg.sha256, requests: msg.requests, wire: msg.wire, session, nextIndex: 0, chain: Promise.resolve(), cancelled: false });
            return;
          }
          case 'run.input': {
            const run = runs.get(msg.runId);
            if (!run) return fail({ code: 'agent-protocol', message: `Input for unknown run '${msg.runId}'. Send run.request first.`, close: CLOSE_CODES.policy }, msg.runId);
            if (msg.index !== run.nextIndex || msg.index >= run.requests) return fail({ code: 'agent-protocol', message: `Input ${msg.index} of run '${msg.runId}' arrived out of order (expected ${run.nextIndex} of ${run.requests}).`, close: CLOSE_CODES.policy }, msg.runId);
            if (msg.bytes > limits.maxFrameBytes) return fail({ code: 'frame-too-large', message: `Input frame of ${msg.bytes} bytes announced; the limit is ${limits.maxFrameBytes}.`, close: CLOSE_CODES.tooBig }, msg.runId);
            run.nextIndex++;
            expected = { kind: 'input', runId: msg.runId, index: msg.index, bytes: msg.bytes };
            return;
          }
          case 'run.cancel': {
            const run = runs.get(msg.runId);
            if (run) run.cancelled = true;
            runs.delete(msg.runId);
            return;
          }
        }
      };

      ws.on('message', (raw: WebSocket.RawData, isBinary: boolean) => {
        lastHeard = performance.now();
        const buf = toBuffer(raw);
        if (isBinary && expected) return onBinary(buf);
        if (expected) {
          return fail({ code: 'agent-protocol', message: `A control message arrived where a binary frame of ${expected.bytes} bytes was announced. Send the announced frame next.`, close: CLOSE_CODES.policy });
        }
        const r = parseControl(hubMessageSchema, buf, isBinary, 'hub');
        if (!r.ok) return fail(r.failure);
        onControl(r.msg);
      });
    });

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => ((wakeSleep = null), resolve()), ms);
      wakeSleep = () => (clearTimeout(t), (wakeSleep = null), resolve());
    });

  const done = (async () => {
    let attempt = 0;
    try {
      while (!stopped) {
        log(`connecting to ${o.server}${attempt ? ` (attempt ${attempt + 1})` : ''}`);
        const welcomed = await connectOnce();
        if (stopped) break;
        if (welcomed) attempt = 0;
        if (attempt >= backoff.maxAttempts) {
          throw new CoreError('agent-unreachable', `The workbench at '${o.server}' could not be reached after ${attempt} attempts. Check the URL and that the workbench is running.`);
        }
        const delay = backoffDelayMs(attempt++, backoff, o.random);
        log(`reconnecting in ${Math.round(delay)} ms`);
        await sleep(delay);
      }
    } finally {
      await cache.release();
    }
  })();
  done.catch(() => undefined);

  return {
    done,
    get connected() {
      return connected;
    },
    async stop() {
      stopped = true;
      wakeSleep?.();
      current?.close(CLOSE_CODES.goingAway, 'agent stopping');
      const ws = current;
      if (ws) setTimeout(() => ws.terminate(), 1000).unref();
      await done.catch(() => undefined);
    },
  };
}
