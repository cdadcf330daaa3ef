/**
 * The workbench side of device agents: pairing tokens, the agent endpoint, and benchmarks and runs on attached
 * devices.
 *
 * Security model:
 * - An agent authenticates with a pairing token: 32 random bytes (256 bits, base64url), shown once by
 *   createPairingToken and stored only as its SHA-256 (agent_tokens). Tokens are revocable; revoking one also drops
 *   the agents attached with it.
 * - The endpoint refuses every failed authentication the same way: a bare `401 Unauthorized` with no body beyond
 *   "Unauthorized.", whether the token was missing, malformed, unknown or revoked. Browsers cannot be agents: an
 *   upgrade that carries an Origin header is refused the same way (a web page cannot set Authorization on a
 *   WebSocket anyway, but the check keeps the endpoint out of reach of cross-site pages).
 * - The hub listens on 127.0.0.1 by default. For a real device on the LAN, pass `host` (the workbench's LAN
 *   address, or '0.0.0.0'): the protocol is plain ws://, so the token and the tensors cross the network in clear —
 *   use it on a network you trust, or put a TLS-terminating proxy in front (the agent accepts wss:// URLs).
 * - Everything an agent sends is validated (agentProtocol.ts); a peer that breaks the protocol gets an error
 *   answer and is disconnected.
 *
 * Timing of a run on an agent (per request):
 * - deviceMs / deviceComputeMs: reported by the agent (decode + head run + encode / the head run alone);
 * - uplinkSocketMs: measured here as the real socket transfer time of the cut-tensor frame, from the arrival of its
 *   JSON header (sent just before it, so it arrives when the frame's first bytes do) to the arrival of the frame's
 *   last byte; it excludes the one-way propagation delay, which a single clock cannot see;
 * - uplinkMs: uplinkSocketMs plus, when `link` is given, the user-space emulated transfer (linkEmulator.ts) on top;
 * - serverMs: decode + tail run in this process + result encode; downlinkMs: the emulated result transfer (0
 *   without `link`: the result stays on the server);
 * - latencyMs: the sum of the stages, what a device-side clock would see from its input to the result.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { CoreError, isCoreError } from '../api/errors.js';
import { checkDevice, type DeviceProfile } from '../plan/devices.js';
import {
  AGENT_PROTOCOL_VERSION,
  AGENT_WS_PATH,
  AGENT_WS_PROTOCOL,
  agentMessageSchema,
  CLOSE_CODES,
  DEFAULT_AGENT_LIMITS,
  parseControl,
  toBuffer,
  type AgentHardware,
  type AgentLimits,
  type AgentMessage,
  type HubMessage,
  type ProtocolFailure,
} from '../run/agentProtocol.js';
import { EmulatedLink, type DuplexLinkSpec } from '../run/linkEmulator.js';
import type { Feeds, InputTensor, RunnablePartitions, StageSummary } from '../run/localRun.js';
import { createSession, ort } from '../run/ortSession.js';
import type { SessionSettings } from '../run/ortSession.js';
import { decodeTensorFrame, encodeTensorFrame, type FrameData, type FrameDType, type FrameTensor } from '../run/tensorFrame.js';
import { insertPairingToken, isTokenActive, listPairingTokens, revokePairingToken, useActiveToken, type PairingTokenRow } from '../store/agentStore.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { sha256Hex } from '../util/hash.js';

export interface AgentHubOptions {
  store: SqliteStore;
  /** Address to listen on (default 127.0.0.1; see the header for real devices). */
  host?: string;
  /** TCP port (default 0: any free one). */
  port?: number;
  /** Heartbeat period; an agent silent for 3 periods is dropped (default 5000 ms). */
  heartbeatMs?: number;
  limits?: Partial<AgentLimits>;
  /** Longest wait for one request's output (default 60 s). */
  requestTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface AgentInfo {
  id: string;
  name: string;
  hardware: AgentHardware;
  tokenId: number;
  connectedAt: string;
  lastHeartbeatAt: string | null;
  /** Heartbeat round trip, ms (null before the first pong). */
  rttMs: number | null;
  /** Head models the agent holds (as far as the hub knows). */
  cachedModels: string[];
  bytesSent: number;
  bytesReceived: number;
  modelBytesSent: number;
}

export interface AgentRunOptions {
  requests: number;
  /** One Feeds per request, in order (the head's inputs). */
  inputs: Iterable<Feeds>;
  /** A link emulated in user space on top of the real socket (adds its transfer times to uplink/downlink). */
  link?: DuplexLinkSpec;
  /** Requests under way at once (default 1: one request at a time, latencies not inflated by queueing). */
  maxInFlight?: number;
  deviceThreads?: number;
  serverThreads?: number;
  optimization?: SessionSettings['optimization'];
  keepOutputs?: boolean;
  signal?: AbortSignal;
  /** Called as each request's result is in. */
  onProgress?: (done: number, total: number) => void;
}

export interface AgentRequestTiming {
  deviceMs: number;
  deviceComputeMs: number;
  uplinkMs: number;
  uplinkSocketMs: number;
  serverMs: number;
  serverComputeMs: number;
  downlinkMs: number;
  latencyMs: number;
  /** Hub wall clock from sending the input to having the result (includes the input's trip to the device). */
  roundTripMs: number;
  uplinkBytes: number;
  uplinkPayloadBytes: number;
}

export interface AgentRunReport {
  runId: string;
  agent: string;
  requests: number;
  headSha256: string;
  /** Whether the head had to be uploaded (false: the agent had it cached). */
  modelUploaded: boolean;
  requestsMs: number;
  throughputRps: number;
  stages: Record<'deviceMs' | 'deviceComputeMs' | 'uplinkMs' | 'uplinkSocketMs' | 'serverMs' | 'serverComputeMs' | 'downlinkMs' | 'latencyMs' | 'roundTripMs', StageSummary>;
  bytes: {
    /** Head model bytes sent in this run (0 when cached). */
    modelUpload: number;
    /** Input frames sent to the agent. */
    inputsDown: number;
    uplinkTotal: number;
    uplinkPerRequest: number;
    /** Everything on the socket during the run, both ways (frames + control messages). */
    socketSent: number;
    socketReceived: number;
  };
  perRequest: AgentRequestTiming[];
  outputs?: FrameTensor[][];
}

export interface AgentHub {
  /** ws://HOST:PORT/agent, what `partita agent --server` takes. */
  readonly url: string;
  readonly port: number;
  /** A new pairing token: the token itself is returned here once and never stored. */
  createPairingToken(label: string): { id: number; label: string; token: string };
  /** Revokes a token and drops the agents attached with it; false when it was not live. */
  revokePairingToken(id: number): boolean;
  listPairingTokens(): PairingTokenRow[];
  agents(): AgentInfo[];
  agent(name: string): AgentInfo | undefined;
  /** Drops an agent's connection (it will reconnect unless stopped); false when none of that name is attached. */
  disconnect(name: string): boolean;
  /** Resolves with the agent once one of that name is attached. */
  waitForAgent(name: string, timeoutMs?: number): Promise<AgentInfo>;
  /** Runs benchHostDevice on the agent; `save` stores it as a 'measured' device named after the agent. */
  benchmark(agent: string | AgentInfo, o?: { runs?: number; threads?: number; save?: boolean; timeoutMs?: number }): Promise<DeviceProfile>;
  runOnAgent(agent: string | AgentInfo, parts: RunnablePartitions & { headOutputs?: readonly string[] }, o: AgentRunOptions): Promise<AgentRunReport>;
  close(): Promise<void>;
}

const TOKEN_RE = /^[A-Za-z0-9_-]{22,256}$/;

type Waiter = { resolve: (m: AgentMessage) => void; reject: (e: Error) => void };
type RunSink = { output: (index: number, deviceMs: number, computeMs: number, frame: Uint8Array, socketMs: number) => void; fail: (e: Error) => void };

/** One agent's WebSocket on the hub. */
class AgentConnection {
  name: string | null = null;
  hardware: AgentHardware | null = null;
  readonly connectedAt = new Date();
  lastHeardAt = performance.now();
  lastHeartbeatAt: Date | null = null;
  rttMs: number | null = null;
  heartbeatSeq = 0;
  heartbeatSentAt = new Map<number, number>();
  readonly cached = new Set<string>();
  bytesSent = 0;
  bytesReceived = 0;
  modelBytesSent = 0;
  readonly waiters = new Map<string, Waiter>();
  readonly runs = new Map<string, RunSink>();
  expected: { runId: string; index: number; bytes: number; deviceMs: number; computeMs: number; headerAt: number } | null = null;
  closed = false;
  closeError: CoreError | null = null;

  constructor(
    readonly id: string,
    readonly ws: WebSocket,
    readonly tokenId: number,
  ) {}

  send(msg: HubMessage): void {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) throw this.disconnected();
    const text = JSON.stringify(msg);
    this.bytesSent += Buffer.byteLength(text);
    this.ws.send(text);
  }

  sendBinary(data: Uint8Array): void {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) throw this.disconnected();
    this.bytesSent += data.length;
    this.ws.send(data);
  }

  fail(f: ProtocolFailure, id: string | null = null): void {
    this.closeError ??= new CoreError(f.code, f.message);
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: 'error', id, code: f.code, message: f.message } satisfies HubMessage));
      this.ws.close(f.close, f.code);
    }
  }

  disconnected(): CoreError {
    return this.closeError ?? new CoreError('agent-disconnected', `Agent '${this.name ?? this.id}' disconnected. Its pending work was abandoned; start the agent again and retry.`);
  }

  /** Sends `msg` and waits for the agent's answer carrying `id`. */
  call(msg: HubMessage, id: string, timeoutMs: number, what: string): Promise<AgentMessage> {
    return new Promise<AgentMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new CoreError('agent-timeout', `Agent '${this.name}' did not answer ${what} within ${Math.round(timeoutMs / 1000)} s. Check that the device is responsive.`));
      }, timeoutMs);
      const done = () => (clearTimeout(timer), this.waiters.delete(id));
      this.waiters.set(id, { resolve: (m) => (done(), resolve(m)), reject: (e) => (done(), reject(e)) });
      try {
        this.send(msg);
      } catch (e) {
        this.waiters.get(id)?.reject(e as Error);
      }
    });
  }

  info(): AgentInfo {
    return {
      id: this.id,
      name: this.name!,
      hardware: this.hardware!,
      tokenId: this.tokenId,
      connectedAt: this.connectedAt.toISOString(),
      lastHeartbeatAt: this.lastHeartbeatAt?.toISOString() ?? null,
      rttMs: this.rttMs,
      cachedModels: [...this.cached],
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      modelBytesSent: this.modelBytesSent,
    };
  }
}

const FRAME_DTYPES = new Set<string>(['float32', 'float16', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool']);

function toFrameTensor(name: string, t: InputTensor): FrameTensor {
  const dtype = t.dtype ?? t.type;
  if (!dtype || !FRAME_DTYPES.has(dtype) || !ArrayBuffer.isView(t.data) || t.data instanceof DataView) {
    throw new CoreError('input-type-unsupported', `Input '${name}' is not a numeric tensor (type '${String(dtype)}'). Pass float, integer or bool tensors with typed-array data.`);
  }
  return { name, dtype: dtype as FrameDType, dims: [...t.dims], data: t.data as FrameData };
}

function summary(values: number[]): StageSummary {
  const s = [...values].sort((a, b) => a - b);
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] : Number.NaN);
  return { median: q(0.5), mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN, p90: q(0.9) };
}

export async function startAgentHub(options: AgentHubOptions): Promise<AgentHub> {
  const { store } = options;
  const host = options.host ?? '127.0.0.1';
  const heartbeatMs = options.heartbeatMs ?? 5000;
  const limits = { ...DEFAULT_AGENT_LIMITS, ...options.limits };
  const requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
  const log = options.log ?? (() => undefined);
  const byName = new Map<string, AgentConnection>();
  const all = new Set<AgentConnection>();
  const attachListeners = new Set<(c: AgentConnection) => void>();
  let nextId = 0;
  const newId = (prefix: string) => `${prefix}-${++nextId}`;

  const server = createServer((req, res) => {
    const upgradePath = (req.url ?? '').split('?')[0] === AGENT_WS_PATH;
    res.writeHead(upgradePath ? 426 : 404, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
    res.end(upgradePath ? 'Upgrade required.\n' : 'Not found.\n');
  });
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxFrameBytes + 1024,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(AGENT_WS_PROTOCOL) ? AGENT_WS_PROTOCOL : false),
  });

  const refuse = (socket: Duplex, status: number, reason: string): void => {
    const body = `${reason}.\n`;
    socket.once('finish', () => socket.destroy());
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if ((req.url ?? '').split('?')[0] !== AGENT_WS_PATH) return refuse(socket, 404, 'Not Found');
    // One answer for every failed authentication: nothing tells a guesser whether a token existed.
    const auth = /^Bearer ([^\s]+)$/.exec(req.headers.authorization ?? '');
    const token = auth && TOKEN_RE.test(auth[1]) && req.headers.origin === undefined ? useActiveToken(store, sha256Hex(auth[1])) : undefined;
    if (!token) return refuse(socket, 401, 'Unauthorized');
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    if (!offered.includes(AGENT_WS_PROTOCOL)) return refuse(socket, 400, 'Bad Request');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new AgentConnection(newId('agent'), ws, token.id);
      all.add(conn);
      // Any byte counts as a sign of life, so a long frame on a slow link does not look like silence.
      socket.on('data', () => (conn.lastHeardAt = performance.now()));
      ws.on('message', (raw: WebSocket.RawData, isBinary: boolean) => onMessage(conn, toBuffer(raw), isBinary));
      ws.on('error', () => undefined);
      ws.on('close', () => onClose(conn));
    });
  });

  const onClose = (conn: AgentConnection): void => {
    conn.closed = true;
    all.delete(conn);
    if (conn.name && byName.get(conn.name) === conn) byName.delete(conn.name);
    const err = conn.disconnected();
    for (const w of [...conn.waiters.values()]) w.reject(err);
    for (const r of [...conn.runs.values()]) r.fail(err);
    if (conn.name) log(`agent '${conn.name}' detached`);
  };

  const onMessage = (conn: AgentConnection, buf: Buffer, isBinary: boolean): void => {
    if (conn.closed) return;
    conn.bytesReceived += buf.length;
    conn.lastHeardAt = performance.now();
    const exp = conn.expected;
    if (exp) {
      conn.expected = null;
      if (!isBinary) return conn.fail({ code: 'agent-protocol', message: `A control message arrived where a ${exp.bytes}-byte frame was announced. Send the announced frame next.`, close: CLOSE_CODES.policy });
      if (buf.length !== exp.bytes) {
        const big = buf.length > exp.bytes;
        return conn.fail({ code: big ? 'frame-too-large' : 'agent-protocol', message: `A binary frame of ${buf.length} bytes arrived where ${exp.bytes} were announced. Send exactly the announced bytes.`, close: big ? CLOSE_CODES.tooBig : CLOSE_CODES.policy }, exp.runId);
      }
      const socketMs = performance.now() - exp.headerAt;
      conn.runs.get(exp.runId)?.output(exp.index, exp.deviceMs, exp.computeMs, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), socketMs);
      return;
    }
    const r = parseControl(agentMessageSchema, buf, isBinary, 'agent');
    if (!r.ok) return conn.fail(r.failure);
    const msg = r.msg;
    if (!conn.name && msg.type !== 'hello') return conn.fail({ code: 'agent-protocol', message: `Message '${msg.type}' arrived before 'hello'. Send 'hello' first.`, close: CLOSE_CODES.policy });
    switch (msg.type) {
      case 'hello': {
        if (conn.name) return conn.fail({ code: 'agent-protocol', message: "A second 'hello' arrived. Send it once per connection.", close: CLOSE_CODES.policy });
        conn.name = msg.agentName;
        conn.hardware = msg.hardware;
        for (const s of msg.cachedModels) conn.cached.add(s);
        const previous = byName.get(msg.agentName);
        if (previous) {
          // A reconnecting agent replaces its old, probably half-dead, connection.
          previous.closeError = new CoreError('agent-disconnected', `Agent '${msg.agentName}' reconnected; work on its previous connection was abandoned. Retry it.`);
          previous.ws.terminate();
        }
        byName.set(msg.agentName, conn);
        conn.send({ type: 'welcome', v: AGENT_PROTOCOL_VERSION, agentId: conn.id, heartbeatMs });
        log(`agent '${msg.agentName}' attached (${msg.hardware.cpu}, ${msg.hardware.cores} cores)`);
        for (const cb of [...attachListeners]) cb(conn);
        return;
      }
      case 'pong': {
        const sent = conn.heartbeatSentAt.get(msg.seq);
        if (sent !== undefined) {
          conn.rttMs = performance.now() - sent;
          conn.heartbeatSentAt.delete(msg.seq);
        }
        conn.lastHeartbeatAt = new Date();
        return;
      }
      case 'bench.result':
      case 'model.have':
      case 'model.need':
        if (msg.type === 'model.have') conn.cached.add(msg.sha256);
        conn.waiters.get(msg.id)?.resolve(msg);
        return;
      case 'run.timing': {
        if (!conn.runs.has(msg.runId)) return conn.fail({ code: 'agent-protocol', message: `Output for unknown run '${msg.runId}'.`, close: CLOSE_CODES.policy }, msg.runId);
        if (msg.bytes > limits.maxFrameBytes) return conn.fail({ code: 'frame-too-large', message: `An output frame of ${msg.bytes} bytes was announced; the limit is ${limits.maxFrameBytes}.`, close: CLOSE_CODES.tooBig }, msg.runId);
        conn.expected = { runId: msg.runId, index: msg.index, bytes: msg.bytes, deviceMs: msg.deviceMs, computeMs: msg.computeMs, headerAt: performance.now() };
        return;
      }
      case 'error': {
        const err = new CoreError(msg.code, `Agent '${conn.name}': ${msg.message}`);
        if (msg.id && conn.waiters.has(msg.id)) return conn.waiters.get(msg.id)!.reject(err);
        if (msg.id && conn.runs.has(msg.id)) return conn.runs.get(msg.id)!.fail(err);
        log(`agent '${conn.name}' reports ${msg.code}: ${msg.message}`);
        return;
      }
    }
  };

  const heartbeat = setInterval(() => {
    const t = performance.now();
    for (const c of all) {
      if (!c.name ? t - c.lastHeardAt > 10_000 : t - c.lastHeardAt > 3 * heartbeatMs) {
        c.closeError ??= new CoreError('agent-disconnected', `Agent '${c.name ?? c.id}' stopped answering heartbeats and was dropped. Check the device and its network, then retry.`);
        c.ws.terminate();
        continue;
      }
      if (!c.name) continue;
      // A token revoked from another process (`partita devices revoke`) drops its agents within one period.
      if (!isTokenActive(store, c.tokenId)) {
        c.closeError ??= new CoreError('agent-disconnected', `Agent '${c.name}' was disconnected: its pairing token was revoked.`);
        c.ws.close(CLOSE_CODES.policy, 'token revoked');
        continue;
      }
      const seq = ++c.heartbeatSeq;
      c.heartbeatSentAt.set(seq, t);
      if (c.heartbeatSentAt.size > 8) c.heartbeatSentAt.delete(c.heartbeatSentAt.keys().next().value!);
      try {
        c.send({ type: 'heartbeat', seq });
      } catch {
        // closing; onClose cleans up
      }
    }
  }, heartbeatMs);
  heartbeat.unref();

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen({ host, port: options.port ?? 0, exclusive: true }, () => {
      server.off('error', fail);
      ok();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('agent hub has no TCP address');
  const port = address.port;
  const url = `ws://${host.includes(':') ? `[${host}]` : host}:${port}${AGENT_WS_PATH}`;

  const attached = (ref: string | AgentInfo): AgentConnection => {
    const name = typeof ref === 'string' ? ref : ref.name;
    const c = byName.get(name);
    if (!c || c.closed) throw new CoreError('agent-not-found', `No agent named '${name}' is attached. Start it on the device with \`partita agent --server ${url} --token … --name ${name}\`.`);
    return c;
  };

  /** Makes sure the agent holds the head; true when it had to be uploaded. */
  const ensureModel = async (conn: AgentConnection, sha: string, bytes: Uint8Array): Promise<boolean> => {
    if (bytes.length > limits.maxModelBytes) throw new CoreError('model-too-large', `The head is ${bytes.length} bytes; agents accept at most ${limits.maxModelBytes}. Cut earlier or quantize the head.`);
    const offerId = newId('offer');
    const answer = await conn.call({ type: 'model.offer', id: offerId, sha256: sha, bytes: bytes.length }, offerId, 30_000, 'a model offer');
    if (answer.type === 'model.have') return false;
    const uploadId = newId('upload');
    const waiting = conn.call({ type: 'model.upload', id: uploadId, sha256: sha, bytes: bytes.length }, uploadId, 60_000 + bytes.length / 100, 'a model upload');
    conn.sendBinary(bytes);
    conn.modelBytesSent += bytes.length;
    const done = await waiting;
    if (done.type !== 'model.have' || done.sha256 !== sha) throw new CoreError('agent-protocol', `Agent '${conn.name}' answered the upload of ${sha.slice(0, 12)}… with '${done.type}'.`);
    return true;
  };

  const runOnAgent: AgentHub['runOnAgent'] = async (ref, parts, o) => {
    const conn = attached(ref);
    const agentName = conn.name!;
    if (!parts.headBytes) throw new CoreError('run-invalid', 'The plan runs nothing on the device (it has no head). Run it locally with runPlanLocally, or pick a cut > 0.');
    if (!Number.isInteger(o.requests) || o.requests < 1 || o.requests > limits.maxRequests) throw new CoreError('run-invalid', `A run needs 1..${limits.maxRequests} requests; got ${o.requests}.`);
    const runUid = randomUUID();
    const headSha256 = sha256Hex(parts.headBytes);
    const optimization = o.optimization ?? 'all';
    const wire = (parts.wire?.length ? parts.wire.map((w) => ({ name: w.name, ...(w.encoding === 'codes' && w.bits < 8 ? { bits: w.bits } : {}) })) : (parts.headOutputs ?? parts.cutTensors).map((name) => ({ name })));
    const before = { sent: conn.bytesSent, received: conn.bytesReceived, model: conn.modelBytesSent };
    let tail: ort.InferenceSession | null = null;
    try {
      if (o.signal?.aborted) throw new CoreError('cancelled', 'The run was cancelled.');
      const modelUploaded = await ensureModel(conn, headSha256, parts.headBytes);
      if (parts.tailBytes) tail = await createSession(parts.tailBytes, 'tail', { threads: o.serverThreads ?? 1, optimization });
      const emulated = o.link ? new EmulatedLink(o.link) : null;
      const timings: AgentRequestTiming[] = [];
      const outputs: FrameTensor[][] = [];
      const iterator = o.inputs[Symbol.iterator]();
      const window = Math.max(1, Math.floor(o.maxInFlight ?? 1));
      const sentAt: number[] = [];
      let inputsDown = 0;
      let nextToSend = 0;
      const sendNext = (): void => {
        const it = iterator.next();
        if (it.done) throw new CoreError('run-invalid', `The run asks for ${o.requests} requests but the inputs end after ${nextToSend}. Give one input per request.`);
        const frame = encodeTensorFrame(Object.entries(it.value).map(([name, t]) => toFrameTensor(name, t)));
        if (frame.length > limits.maxFrameBytes) throw new CoreError('frame-too-large', `Request ${nextToSend}'s inputs take ${frame.length} bytes; the limit is ${limits.maxFrameBytes}.`);
        conn.send({ type: 'run.input', runId: runUid, index: nextToSend, bytes: frame.length });
        conn.sendBinary(frame);
        sentAt[nextToSend++] = performance.now();
        inputsDown += frame.length;
      };

      const tStart = performance.now();
      await new Promise<void>((resolve, reject) => {
        let failed = false;
        let finished = 0;
        let chain = Promise.resolve();
        let timer: NodeJS.Timeout | undefined;
        const stop = (e: unknown) => {
          if (failed) return;
          failed = true;
          clearTimeout(timer);
          o.signal?.removeEventListener('abort', onAbort);
          reject(e);
        };
        const arm = () => {
          clearTimeout(timer);
          timer = setTimeout(() => stop(new CoreError('agent-timeout', `Agent '${agentName}' produced no output for ${Math.round(requestTimeoutMs / 1000)} s in run '${runUid}'. Check the device.`)), requestTimeoutMs);
        };
        const onAbort = () => stop(new CoreError('cancelled', 'The run was cancelled.'));
        o.signal?.addEventListener('abort', onAbort);
        const serve = async (index: number, deviceMs: number, computeMs: number, frame: Uint8Array, socketMs: number): Promise<void> => {
          let uplinkMs = socketMs;
          if (emulated) uplinkMs += (await emulated.up.transfer(frame, o.signal)).ms;
          const ts = performance.now();
          let received: FrameTensor[];
          try {
            received = decodeTensorFrame(frame, { maxFrameBytes: limits.maxFrameBytes });
          } catch (e) {
            if (isCoreError(e)) conn.fail({ code: e.code, message: e.message, close: CLOSE_CODES.invalidPayload }, runUid);
            throw e;
          }
          const payload = received.reduce((a, x) => a + (x.bits ? Math.ceil((x.data.length * x.bits) / 8) : x.data.byteLength), 0);
          let result = received.map(({ bits: _bits, ...x }) => x);
          let serverComputeMs = 0;
          let downFrame: Uint8Array | null = null;
          if (tail) {
            const feeds: Record<string, ort.Tensor> = {};
            for (const t of result) feeds[t.name] = new ort.Tensor(t.dtype, t.data as never, t.dims);
            const tc = performance.now();
            const out = await tail.run(feeds);
            serverComputeMs = performance.now() - tc;
            result = tail.outputNames.map((n) => ({ name: n, dtype: out[n].type as FrameDType, dims: [...out[n].dims], data: out[n].data as FrameData }));
            if (emulated) downFrame = encodeTensorFrame(result);
          }
          const serverMs = performance.now() - ts;
          const downlinkMs = emulated && downFrame ? (await emulated.down.transfer(downFrame, o.signal)).ms : 0;
          timings[index] = {
            deviceMs,
            deviceComputeMs: computeMs,
            uplinkMs,
            uplinkSocketMs: socketMs,
            serverMs,
            serverComputeMs,
            downlinkMs,
            latencyMs: deviceMs + uplinkMs + serverMs + downlinkMs,
            roundTripMs: performance.now() - sentAt[index],
            uplinkBytes: frame.length,
            uplinkPayloadBytes: payload,
          };
          if (o.keepOutputs) outputs[index] = result;
        };
        let expectIndex = 0;
        conn.runs.set(runUid, {
          output: (index, deviceMs, computeMs, frame, socketMs) => {
            if (failed) return;
            if (index !== expectIndex++) return stop(new CoreError('agent-protocol', `Agent '${agentName}' sent output ${index} of run '${runUid}' out of order.`));
            arm();
            chain = chain
              .then(() => (failed ? undefined : serve(index, deviceMs, computeMs, frame, socketMs)))
              .then(() => {
                if (failed) return;
                finished++;
                o.onProgress?.(finished, o.requests);
                if (finished === o.requests) {
                  clearTimeout(timer);
                  o.signal?.removeEventListener('abort', onAbort);
                  resolve();
                } else if (nextToSend < o.requests) sendNext();
              })
              .catch(stop);
          },
          fail: stop,
        });
        try {
          conn.send({ type: 'run.request', runId: runUid, sha256: headSha256, requests: o.requests, wire, threads: o.deviceThreads ?? 1, optimization });
          while (nextToSend < Math.min(window, o.requests)) sendNext();
          arm();
        } catch (e) {
          stop(e);
        }
      });
      const requestsMs = performance.now() - tStart;
      const col = (k: keyof AgentRequestTiming) => summary(timings.map((t) => t[k]));
      const uplinkTotal = timings.reduce((a, t) => a + t.uplinkBytes, 0);
      const report: AgentRunReport = {
        runId: runUid,
        agent: agentName,
        requests: o.requests,
        headSha256,
        modelUploaded,
        requestsMs,
        throughputRps: o.requests / (requestsMs / 1000),
        stages: {
          deviceMs: col('deviceMs'),
          deviceComputeMs: col('deviceComputeMs'),
          uplinkMs: col('uplinkMs'),
          uplinkSocketMs: col('uplinkSocketMs'),
          serverMs: col('serverMs'),
          serverComputeMs: col('serverComputeMs'),
          downlinkMs: col('downlinkMs'),
          latencyMs: col('latencyMs'),
          roundTripMs: col('roundTripMs'),
        },
        bytes: {
          modelUpload: conn.modelBytesSent - before.model,
          inputsDown,
          uplinkTotal,
          uplinkPerRequest: uplinkTotal / o.requests,
          socketSent: conn.bytesSent - before.sent,
          socketReceived: conn.bytesReceived - before.received,
        },
        perRequest: timings,
        ...(o.keepOutputs ? { outputs } : {}),
      };
      return report;
    } catch (e) {
      if (!conn.closed) {
        try {
          conn.send({ type: 'run.cancel', runId: runUid });
        } catch {
          // the connection is going away
        }
      }
      const err = isCoreError(e) ? (e as CoreError) : new CoreError('run-failed', `The run on agent '${agentName}' failed: ${String((e as Error)?.message ?? e)}.`);
      throw err;
    } finally {
      conn.runs.delete(runUid);
      if (conn.expected?.runId === runUid) conn.expected = null;
      await tail?.release();
    }
  };

  return {
    url,
    port,
    createPairingToken(label) {
      const token = randomBytes(32).toString('base64url');
      const row = insertPairingToken(store, String(label).slice(0, 200), sha256Hex(token));
      return { id: row.id, label: row.label, token };
    },
    revokePairingToken(id) {
      const ok = revokePairingToken(store, id);
      for (const c of [...all]) {
        if (c.tokenId === id && !isTokenActive(store, id)) {
          c.closeError = new CoreError('agent-disconnected', `Agent '${c.name ?? c.id}' was disconnected: its pairing token was revoked.`);
          if (c.name && byName.get(c.name) === c) byName.delete(c.name);
          c.ws.close(CLOSE_CODES.policy, 'token revoked');
          setTimeout(() => c.ws.terminate(), 1000).unref();
        }
      }
      return ok;
    },
    listPairingTokens: () => listPairingTokens(store),
    agents: () => [...byName.values()].map((c) => c.info()),
    agent: (name) => byName.get(name)?.info(),
    disconnect(name) {
      const c = byName.get(name);
      if (!c) return false;
      c.closeError = new CoreError('agent-disconnected', `Agent '${name}' was disconnected by the workbench.`);
      byName.delete(name);
      c.ws.terminate();
      return true;
    },
    waitForAgent(name, timeoutMs = 30_000) {
      const c = byName.get(name);
      if (c && !c.closed) return Promise.resolve(c.info());
      return new Promise<AgentInfo>((resolve, reject) => {
        const cb = (conn: AgentConnection) => {
          if (conn.name !== name) return;
          clearTimeout(timer);
          attachListeners.delete(cb);
          resolve(conn.info());
        };
        const timer = setTimeout(() => {
          attachListeners.delete(cb);
          reject(new CoreError('agent-not-found', `No agent named '${name}' attached within ${Math.round(timeoutMs / 1000)} s. Start it with \`partita agent --server ${url} --token … --name ${name}\`.`));
        }, timeoutMs);
        attachListeners.add(cb);
      });
    },
    async benchmark(ref, o = {}) {
      const conn = attached(ref);
      const id = newId('bench');
      const answer = await conn.call({ type: 'bench.request', id, runs: o.runs ?? 30, threads: o.threads ?? 1 }, id, o.timeoutMs ?? 600_000, 'a benchmark request');
      if (answer.type !== 'bench.result') throw new CoreError('agent-protocol', `Agent '${conn.name}' answered a benchmark with '${answer.type}'.`);
      const profile = checkDevice({ ...answer.profile, name: conn.name!, source: `${answer.profile.source}; via agent '${conn.name}' (${conn.hardware!.cpu}, ${conn.hardware!.platform}/${conn.hardware!.arch})`.slice(0, 1000) });
      if (o.save) store.saveDevice({ name: profile.name, kind: 'measured', source: profile.source, profile });
      return profile;
    },
    runOnAgent,
    async close() {
      clearInterval(heartbeat);
      for (const c of [...all]) {
        c.closeError ??= new CoreError('agent-disconnected', `The workbench hub closed; agent '${c.name ?? c.id}' was disconnected.`);
        c.ws.terminate();
      }
      await new Promise<void>((ok) => wss.close(() => ok()));
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
