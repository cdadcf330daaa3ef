import { z } from 'zod';

/**
 * The device-agent wire protocol: what a workbench hub (core/host/agentHub.ts) and a device agent
 * (core/run/deviceAgent.ts) say to each other over one WebSocket.
 *
 * Authentication happens before the protocol starts: the agent opens `ws(s)://HOST:PORT/agent` with the
 * subprotocol AGENT_WS_PROTOCOL and the header `Authorization: Bearer <pairing token>`. A missing, unknown or
 * revoked token gets the same bare HTTP 401 and no WebSocket.
 *
 * Control messages are JSON text frames, one message per frame, each with a `type`. Bulk data travels as binary
 * frames, and a binary frame is only ever accepted when a JSON header has just announced it with its exact size:
 *
 *   agent → hub  hello {agentName, hardware, cachedModels}            first message, once per connection
 *   hub → agent  welcome {agentId, heartbeatMs, limits}
 *   hub → agent  heartbeat {seq}            agent → hub  pong {seq}    every heartbeatMs; silence for 3 periods = dead
 *   hub → agent  bench.request {id, runs, threads}  →  bench.result {id, profile: DeviceProfile}
 *   hub → agent  model.offer {id, sha256, bytes}    →  model.have {id, sha256} | model.need {id, sha256}
 *   hub → agent  model.upload {id, sha256, bytes} + ONE binary frame (the head .onnx)  →  model.have {id, sha256}
 *   hub → agent  run.request {runId, sha256, requests, wire, threads, optimization}, then per request
 *                run.input {runId, index, bytes} + ONE binary frame (the request's inputs as a tensor frame)
 *   hub → agent  run.cancel {runId}         the hub gave up on a run: drop its remaining requests
 *   agent → hub  per request: run.timing {runId, index, deviceMs, computeMs, bytes} + ONE binary frame (the cut
 *                tensors as a tensor frame, `bytes` long)
 *   either way   error {id, code, message}
 *
 * Every frame is size-limited (control frames: MAX_CONTROL_BYTES; binary frames: the announced size, itself below
 * the receiver's limits) and every message is validated with the schemas below. A peer that breaks a rule gets an
 * `error` answer and the connection is closed with a close code saying why (CLOSE_CODES): it is broken or hostile,
 * and nothing it sends afterwards can be trusted to line up.
 */

export const AGENT_PROTOCOL_VERSION = 1;
/** WebSocket subprotocol both sides insist on. */
export const AGENT_WS_PROTOCOL = 'partita-agent.v1';
/** Path of the hub's agent endpoint. */
export const AGENT_WS_PATH = '/agent';
/** Largest JSON control frame, bytes. */
export const MAX_CONTROL_BYTES = 64 * 1024;

export const DEFAULT_AGENT_LIMITS = {
  /** Largest head model the agent accepts, bytes. */
  maxModelBytes: 256 * 2 ** 20,
  /** Largest tensor frame (an input frame or a cut-tensor frame), bytes. */
  maxFrameBytes: 64 * 2 ** 20,
  /** Most requests in one run.request. */
  maxRequests: 100_000,
};
export type AgentLimits = typeof DEFAULT_AGENT_LIMITS;

/** RFC 6455 close codes used when a peer breaks the protocol. */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  invalidPayload: 1007,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
} as const;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');
const id = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.:-]+$/);
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const ms = z.number().finite().nonnegative();
const shortText = (max: number) => z.string().max(max);

export const hardwareSchema = z.strictObject({
  cpu: shortText(200),
  cores: z.number().int().positive().max(100_000),
  memoryBytes: count,
  arch: shortText(40),
  platform: shortText(40),
  node: shortText(40),
  ort: shortText(40),
});
export type AgentHardware = z.infer<typeof hardwareSchema>;

const positive = z.number().finite().positive();
/** core/plan/devices.ts's DeviceProfile, as it crosses the wire. */
export const deviceProfileSchema = z.strictObject({
  name: shortText(200).min(1),
  kind: z.literal('measured'),
  source: shortText(1000),
  threads: z.number().int().positive().max(4096),
  macsPerSecond: z.strictObject({ fp32: positive, int8: positive, int4: positive }),
  elementsPerSecond: positive,
  layerOverheadMs: ms,
  inferenceOverheadMs: ms.optional(),
  memoryBytes: positive,
  power: z.strictObject({ computeW: ms, idleW: ms, txW: ms, rxW: ms }),
});

/** A tensor on the uplink: its head-output name and, for packed sub-byte codes, their width. */
const wireEntry = z.strictObject({ name: shortText(1024).min(1), bits: z.number().int().min(1).max(7).optional() });

const errorMessage = z.strictObject({ type: z.literal('error'), id: id.nullable(), code: z.string().regex(/^[a-z0-9-]{1,64}$/), message: shortText(2000) });

// ---- agent → hub ----

export const agentMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('hello'),
    v: z.literal(AGENT_PROTOCOL_VERSION),
    agentName: z.string().min(1).max(100).regex(/^[A-Za-z0-9_.@:-]+$/, 'letters, digits and _ . @ : -'),
    hardware: hardwareSchema,
    cachedModels: z.array(sha256).max(1000),
  }),
  z.strictObject({ type: z.literal('pong'), seq: count }),
  z.strictObject({ type: z.literal('bench.result'), id, profile: deviceProfileSchema }),
  z.strictObject({ type: z.literal('model.have'), id, sha256 }),
  z.strictObject({ type: z.literal('model.need'), id, sha256 }),
  z.strictObject({ type: z.literal('run.timing'), runId: id, index: count, deviceMs: ms, computeMs: ms, bytes: count }),
  errorMessage,
]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;

// ---- hub → agent ----

export const hubMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('welcome'),
    v: z.literal(AGENT_PROTOCOL_VERSION),
    agentId: id,
    heartbeatMs: z.number().int().min(10).max(600_000),
  }),
  z.strictObject({ type: z.literal('heartbeat'), seq: count }),
  z.strictObject({ type: z.literal('bench.request'), id, runs: z.number().int().min(1).max(1000), threads: z.number().int().min(1).max(4096) }),
  z.strictObject({ type: z.literal('model.offer'), id, sha256, bytes: count }),
  z.strictObject({ type: z.literal('model.upload'), id, sha256, bytes: count }),
  z.strictObject({
    type: z.literal('run.request'),
    runId: id,
    sha256,
    requests: z.number().int().min(1).max(DEFAULT_AGENT_LIMITS.maxRequests),
    wire: z.array(wireEntry).max(4096),
    threads: z.number().int().min(1).max(4096),
    optimization: z.enum(['disabled', 'basic', 'extended', 'all']),
  }),
  z.strictObject({ type: z.literal('run.input'), runId: id, index: count, bytes: count }),
  z.strictObject({ type: z.literal('run.cancel'), runId: id }),
  errorMessage,
]);
export type HubMessage = z.infer<typeof hubMessageSchema>;

export type ProtocolFailure = { code: string; message: string; close: number };

/**
 * Parses one received WebSocket frame as a control message. Returns the message, or the error to answer and the
 * close code to use.
 */
export function parseControl<T>(
  schema: z.ZodType<T>,
  data: Buffer,
  isBinary: boolean,
  from: 'agent' | 'hub',
): { ok: true; msg: T } | { ok: false; failure: ProtocolFailure } {
  if (isBinary) {
    return { ok: false, failure: { code: 'agent-protocol', message: `An unannounced binary frame of ${data.length} bytes arrived from the ${from}. Announce every binary frame with its JSON header first.`, close: CLOSE_CODES.unsupportedData } };
  }
  if (data.length > MAX_CONTROL_BYTES) {
    return { ok: false, failure: { code: 'frame-too-large', message: `A control message of ${data.length} bytes arrived from the ${from}; the limit is ${MAX_CONTROL_BYTES}. Send bulk data as announced binary frames.`, close: CLOSE_CODES.tooBig } };
  }
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch {
    return { ok: false, failure: { code: 'agent-protocol', message: `A control message from the ${from} is not JSON. Send each message as one JSON text frame.`, close: CLOSE_CODES.invalidPayload } };
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const type = typeof json === 'object' && json !== null && typeof (json as { type?: unknown }).type === 'string' ? String((json as { type: string }).type).slice(0, 40) : '?';
    return {
      ok: false,
      failure: { code: 'agent-protocol', message: `Message '${type}' from the ${from} is invalid at '${issue?.path.join('.') ?? ''}' (${issue?.message ?? 'invalid'}). Update the agent and the workbench to the same version.`, close: CLOSE_CODES.policy },
    };
  }
  return { ok: true, msg: r.data };
}

/** Node's ws delivers Buffer | ArrayBuffer | Buffer[]; this makes it one Buffer. */
export function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
}
