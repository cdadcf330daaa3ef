import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startAgentHub, type AgentHub } from '../../core/host/agentHub.js';
import { buildGraph } from '../../core/onnx/graph.js';
import { decodeModel, encodeModel } from '../../core/onnx/modelCodec.js';
import { AGENT_WS_PROTOCOL, CLOSE_CODES } from '../../core/run/agentProtocol.js';
import { backoffDelayMs, startDeviceAgent } from '../../core/run/deviceAgent.js';
import type { Feeds } from '../../core/run/localRun.js';
import { createSession, ort } from '../../core/run/ortSession.js';
import { buildPartitions, type Partitions } from '../../core/run/partitionBuilder.js';
import { probeShapes } from '../../core/run/shapeProbe.js';
import { mulberry32 } from '../../core/util/random.js';
import { ROOT, tempStore, ZOO } from '../helpers.js';

/** Seeded Fashion-MNIST-shaped inputs: request i is the same in every call. */
function* inputs(n: number, seed = 7): Generator<Feeds> {
  for (let i = 0; i < n; i++) {
    const r = mulberry32(seed + i);
    yield { input: { dtype: 'float32', dims: [1, 1, 28, 28], data: Float32Array.from({ length: 784 }, () => r()) } };
  }
}

interface AgentProc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

const procs: ChildProcess[] = [];

/** The agent as its own OS process, through the real `partita` binary. */
function spawnAgent(server: string, token: string, name: string, extra: string[] = []): AgentProc {
  const child = spawn(process.execPath, [join(ROOT, 'bin/partita.js'), 'agent', '--server', server, '--token', token, '--name', name, ...extra], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PARTITA_AGENT_TOKEN: '' },
  });
  procs.push(child);
  let text = '';
  child.stdout!.on('data', (d: Buffer) => ((text += d.toString()), process.env.AGENT_TEST_LOG && console.log(d.toString())));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => text, exited };
}

/** An upgrade attempt on the agent endpoint; the refusal as the client sees it. */
function rawUpgrade(url: string, headers: Record<string, string>): Promise<{ status: number; body: string; headers: string[] }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': AGENT_WS_PROTOCOL, ...headers },
    });
    req.on('upgrade', () => reject(new Error('upgrade accepted')));
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: Object.keys(res.headers).sort() }));
    });
    req.on('error', reject);
    req.end();
  });
}

const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('device agent (separate process, real WebSocket on 127.0.0.1)', () => {
  const t = tempStore();
  let hub: AgentHub;
  let parts: Partitions;
  let wholeBytes: Uint8Array;
  let token: { id: number; token: string };

  beforeAll(async () => {
    const proto = decodeModel(readFileSync(ZOO[0].file), 'fmnist-cnn');
    const graph = buildGraph(proto);
    const shapes = await probeShapes(proto, graph, 'cnn', { input: [1, 1, 28, 28] });
    const cut = Math.floor(graph.layers.length / 2);
    parts = buildPartitions(proto, graph, { cut, bits: graph.layers.slice(0, cut).map(() => 32), activationBits: 32 }, {}, shapes);
    expect(parts.headBytes).not.toBeNull();
    expect(parts.tailBytes).not.toBeNull();
    wholeBytes = encodeModel(proto);
    hub = await startAgentHub({ store: t.store, heartbeatMs: 2000, log: (l) => process.env.AGENT_TEST_LOG && console.log('hub:', l) });
    token = hub.createPairingToken('test device');
  });

  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await hub?.close();
    t.cleanup();
  });

  it('stores only the hash of a pairing token of >= 128 bits, shown once', () => {
    expect(Buffer.from(token.token, 'base64url').length).toBeGreaterThanOrEqual(16);
    const rows = t.store.db.prepare('SELECT * FROM agent_tokens').all() as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(token.token);
    expect(hub.listPairingTokens()[0]).not.toHaveProperty('token');
  });

  it('registers: the agent reports its hardware and answers heartbeats', async () => {
    const a = spawnAgent(hub.url, token.token, 'dev1');
    const info = await hub.waitForAgent('dev1', 30_000);
    expect(info.hardware.cores).toBe(cpus().length);
    expect(info.hardware.arch).toBe(process.arch);
    expect(info.hardware.platform).toBe(process.platform);
    expect(info.hardware.node).toBe(process.version);
    expect(info.hardware.ort).toMatch(/^\d+\.\d+/);
    expect(info.hardware.memoryBytes).toBeGreaterThan(0);
    expect(hub.agents().map((x) => x.name)).toContain('dev1');
    await new Promise((r) => setTimeout(r, 2500));
    const later = hub.agent('dev1')!;
    expect(later.lastHeartbeatAt).not.toBeNull();
    expect(later.rttMs).toBeGreaterThanOrEqual(0);
    expect(a.out()).toContain("attached to");
  });

  it('benchmarks: a DeviceProfile arrives and is saved as a measured device', async () => {
    const d = await hub.benchmark('dev1', { runs: 3, save: true });
    expect(d.kind).toBe('measured');
    expect(d.name).toBe('dev1');
    for (const v of Object.values(d.macsPerSecond)) expect(v).toBeGreaterThan(0);
    expect(d.elementsPerSecond).toBeGreaterThan(0);
    expect(d.source).toContain("via agent 'dev1'");
    expect(t.store.findDevice('dev1')).toMatchObject({ kind: 'measured', profile: { name: 'dev1', kind: 'measured' } });
  });

  it("runs fmnist-cnn partitions: tail(agent's head output) equals the whole model; the head crosses once", async () => {
    const n = 6;
    const first = await hub.runOnAgent('dev1', parts, { requests: n, inputs: inputs(n), optimization: 'disabled', keepOutputs: true });
    const whole = await createSession(wholeBytes, 'whole', { optimization: 'disabled' });
    try {
      let i = 0;
      for (const feeds of inputs(n)) {
        const x = feeds.input;
        const want = (await whole.run({ input: new ort.Tensor('float32', x.data as Float32Array, [...x.dims]) }))[whole.outputNames[0]].data as Float32Array;
        expect(sameBytes(first.outputs![i][0].data, want)).toBe(true);
        i++;
      }
    } finally {
      await whole.release();
    }
    expect(first.modelUploaded).toBe(true);
    expect(first.bytes.modelUpload).toBe(parts.headBytes!.length);
    expect(first.bytes.socketSent).toBeGreaterThan(parts.headBytes!.length);
    for (const r of first.perRequest) {
      expect(r.deviceMs).toBeGreaterThan(0);
      expect(r.deviceComputeMs).toBeGreaterThan(0);
      expect(r.deviceComputeMs).toBeLessThanOrEqual(r.deviceMs);
      expect(r.uplinkSocketMs).toBeGreaterThanOrEqual(0);
      expect(r.serverMs).toBeGreaterThan(0);
      expect(r.uplinkPayloadBytes).toBe(parts.uplinkPayloadBytes);
      expect(r.uplinkBytes).toBeGreaterThan(r.uplinkPayloadBytes);
      expect(r.latencyMs).toBeCloseTo(r.deviceMs + r.uplinkMs + r.serverMs + r.downlinkMs, 6);
    }
    expect(first.bytes.uplinkTotal).toBe(first.perRequest.reduce((a, r) => a + r.uplinkBytes, 0));

    // Second run: the agent has the head cached by hash; only the offer and the requests cross.
    const second = await hub.runOnAgent('dev1', parts, { requests: n, inputs: inputs(n), optimization: 'disabled', keepOutputs: true });
    expect(second.modelUploaded).toBe(false);
    expect(second.bytes.modelUpload).toBe(0);
    expect(second.bytes.socketSent - second.bytes.inputsDown).toBeLessThan(3000);
    expect(first.bytes.socketSent - second.bytes.socketSent).toBeGreaterThanOrEqual(parts.headBytes!.length);
    expect(first.bytes.socketSent - second.bytes.socketSent).toBeLessThan(parts.headBytes!.length + 500);
    expect(second.bytes.inputsDown).toBe(first.bytes.inputsDown);
    for (let i = 0; i < n; i++) expect(sameBytes(second.outputs![i][0].data, first.outputs![i][0].data)).toBe(true);
  });

  it('adds a user-space emulated link on top of the socket when asked', async () => {
    const link = { uplinkBps: 1e6, downlinkBps: 1e6, rttMs: 10 };
    const r = await hub.runOnAgent('dev1', parts, { requests: 2, inputs: inputs(2), link });
    for (const q of r.perRequest) {
      expect(q.uplinkMs).toBeGreaterThanOrEqual(q.uplinkSocketMs + 5 + (q.uplinkBytes * 8) / 1e3);
      expect(q.downlinkMs).toBeGreaterThanOrEqual(5);
    }
  });

  it('refuses a wrong, revoked or missing token with the same bare 401', async () => {
    const revoked = hub.createPairingToken('to revoke');
    expect(hub.revokePairingToken(revoked.id)).toBe(true);
    const answers = await Promise.all([
      rawUpgrade(hub.url, { Authorization: `Bearer ${'A'.repeat(43)}` }),
      rawUpgrade(hub.url, { Authorization: `Bearer ${revoked.token}` }),
      rawUpgrade(hub.url, {}),
      rawUpgrade(hub.url, { Authorization: 'Bearer short' }),
      // A browser page (it carries an Origin) cannot be an agent, even with a live token.
      rawUpgrade(hub.url, { Authorization: `Bearer ${token.token}`, Origin: 'http://evil.example' }),
    ]);
    for (const a of answers) expect(a).toEqual(answers[0]);
    expect(answers[0].status).toBe(401);
    expect(answers[0].body).toBe('Unauthorized.\n');

    // The agent process gives up at once (a refused token does not become valid by retrying) and attaches nothing.
    const a = spawnAgent(hub.url, revoked.token, 'dev-revoked');
    expect(await a.exited).toBe(1);
    expect(a.out()).toContain('[agent-unauthorized]');
    expect(hub.agent('dev-revoked')).toBeUndefined();
  });

  it('answers a protocol violation with an error and closes the connection', async () => {
    const open = async () => {
      const ws = new WebSocket(hub.url, AGENT_WS_PROTOCOL, { headers: { authorization: `Bearer ${token.token}` } });
      const messages: any[] = [];
      ws.on('message', (d, bin) => void (bin ? undefined : messages.push(JSON.parse(d.toString()))));
      const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
      await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
      const hw = { cpu: 'fake', cores: 1, memoryBytes: 1, arch: 'x', platform: 'y', node: 'v', ort: '1' };
      ws.send(JSON.stringify({ type: 'hello', v: 1, agentName: `raw${Math.random().toString(36).slice(2, 8)}`, hardware: hw, cachedModels: [] }));
      await new Promise<void>((r) => {
        const check = () => (messages.some((m) => m.type === 'welcome') ? r() : setTimeout(check, 10));
        check();
      });
      return { ws, messages, closed };
    };
    // An oversized control frame.
    const big = await open();
    big.ws.send(JSON.stringify({ type: 'pong', seq: 1, pad: 'x'.repeat(100_000) }));
    expect(await big.closed).toBe(CLOSE_CODES.tooBig);
    expect(big.messages.at(-1)).toMatchObject({ type: 'error', code: 'frame-too-large' });
    // Not JSON; an unannounced binary frame; a message that fails its schema.
    for (const [send, code] of [
      [(ws: WebSocket) => ws.send('{nope'), CLOSE_CODES.invalidPayload],
      [(ws: WebSocket) => ws.send(new Uint8Array(16)), CLOSE_CODES.unsupportedData],
      [(ws: WebSocket) => ws.send(JSON.stringify({ type: 'run.timing', runId: 'x', index: -1, deviceMs: 1, computeMs: 1, bytes: 1 })), CLOSE_CODES.policy],
    ] as const) {
      const c = await open();
      send(c.ws);
      expect(await c.closed).toBe(code);
      expect(c.messages.at(-1)).toMatchObject({ type: 'error', code: expect.stringMatching(/^agent-protocol$/) });
    }
  });

  it('the agent refuses a frame bigger than announced from a hub with an error, and closes', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => AGENT_WS_PROTOCOL });
    await new Promise((r) => wss.once('listening', r));
    const got = new Promise<{ msgs: any[]; code: number }>((resolve) => {
      wss.on('connection', (ws) => {
        const msgs: any[] = [];
        ws.on('message', (d) => {
          const m = JSON.parse(d.toString());
          msgs.push(m);
          if (m.type === 'hello') {
            ws.send(JSON.stringify({ type: 'welcome', v: 1, agentId: 'a-1', heartbeatMs: 1000 }));
            ws.send(JSON.stringify({ type: 'model.upload', id: 'u-1', sha256: 'a'.repeat(64), bytes: 100 }));
            ws.send(new Uint8Array(5000));
          }
        });
        ws.on('close', (code) => resolve({ msgs, code }));
      });
    });
    const port = (wss.address() as { port: number }).port;
    const agent = startDeviceAgent({ server: `ws://127.0.0.1:${port}/agent`, token: 'x'.repeat(43), name: 'in-proc', backoff: { maxAttempts: 0 } });
    try {
      const r = await got;
      expect(r.code).toBe(CLOSE_CODES.tooBig);
      expect(r.msgs.at(-1)).toMatchObject({ type: 'error', code: 'frame-too-large', id: 'u-1' });
    } finally {
      await agent.stop();
      await new Promise((r) => wss.close(r));
    }
  });

  it('a killed agent rejects the run with agent-disconnected and the store is untouched; a retry on a fresh agent succeeds', async () => {
    const a = spawnAgent(hub.url, token.token, 'dev-kill');
    await hub.waitForAgent('dev-kill', 30_000);
    const before = t.store.rowCounts();
    const n = 5000;
    let killed = false;
    const run = hub.runOnAgent('dev-kill', parts, {
      requests: n,
      inputs: inputs(n),
      onProgress: (done) => {
        if (done === 20 && !killed) {
          killed = true;
          a.child.kill('SIGKILL');
        }
      },
    });
    const err = await run.then(
      () => null,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(killed).toBe(true);
    expect(err).toMatchObject({ code: 'agent-disconnected' });
    expect(err!.message).toContain('dev-kill');
    // The hub stores nothing of a run (partita run stores plan runs, see test/host/runPlan.test.ts): no table
    // gained or lost a row.
    const after = t.store.rowCounts();
    expect(after).toEqual(before);
    expect(hub.agent('dev-kill')).toBeUndefined();

    // Retry on a fresh agent process.
    spawnAgent(hub.url, token.token, 'dev-kill');
    await hub.waitForAgent('dev-kill', 30_000);
    const ok = await hub.runOnAgent('dev-kill', parts, { requests: 3, inputs: inputs(3) });
    expect(ok.perRequest).toHaveLength(3);
  });

  it('reconnects after the socket drops and after the hub restarts, and keeps its model cache', async () => {
    const a = spawnAgent(hub.url, token.token, 'dev-re');
    const first = await hub.waitForAgent('dev-re', 30_000);
    await hub.runOnAgent('dev-re', parts, { requests: 1, inputs: inputs(1) });

    expect(hub.disconnect('dev-re')).toBe(true);
    const second = await hub.waitForAgent('dev-re', 30_000);
    expect(second.id).not.toBe(first.id);

    // Restart the hub on the same port with the same database: the token is still good.
    const port = hub.port;
    await hub.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(a.child.exitCode).toBeNull();
    hub = await startAgentHub({ store: t.store, port, heartbeatMs: 2000 });
    const third = await hub.waitForAgent('dev-re', 30_000);
    expect(third.cachedModels).toContain(parts.headBytes ? (await import('../../core/util/hash.js')).sha256Hex(parts.headBytes) : '');
    const r = await hub.runOnAgent('dev-re', parts, { requests: 2, inputs: inputs(2) });
    expect(r.modelUploaded).toBe(false);
    expect(a.out()).toMatch(/reconnecting in \d+ ms/);
  });

  it('backs off exponentially, capped, with jitter', () => {
    const o = { initialMs: 500, maxMs: 30_000, jitter: 0.3 };
    for (let k = 0; k < 40; k++) {
      const base = Math.min(30_000, 500 * 2 ** k);
      expect(backoffDelayMs(k, o, () => 0)).toBe(base);
      expect(backoffDelayMs(k, o, () => 0.999)).toBeGreaterThanOrEqual(base * 0.7);
      expect(backoffDelayMs(k, o, Math.random)).toBeLessThanOrEqual(30_000);
    }
  });
});
