import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentHub, type AgentHub } from '../../core/host/agentHub.js';
import type { onnx } from '../../core/onnx/generated/onnxProto.js';
import { encodeModel } from '../../core/onnx/modelCodec.js';
import { int64Tensor } from '../../core/onnx/tensorBuilders.js';
import type { Feeds } from '../../core/run/localRun.js';
import { mulberry32 } from '../../core/util/random.js';
import { ROOT, tempStore } from '../helpers.js';

/**
 * The agent in its own network namespace behind a veth pair whose device side is limited by the kernel
 * (`tc … tbf rate 10mbit`): the uplink the hub measures on the socket must track the configured bandwidth.
 * Everything stays inside this machine: the namespace and the 10.x addresses are created here and removed in
 * afterAll, also when a test fails. Needs root and iproute2; skipped otherwise.
 */

const ip = (args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });
const why = (() => {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not running as root (network namespaces need CAP_NET_ADMIN)';
  if (ip(['-V']).status !== 0) return "iproute2's `ip` is not available";
  if (spawnSync('tc', ['-V']).error) return "iproute2's `tc` is not available";
  return null;
})();

const RATE_BPS = 10e6;
/** One request's cut tensor: 256 x 1024 float32 = 1 MiB, about 0.84 s at 10 Mbit/s. */
const ROWS = 256;
const COLS = 1024;

/** A head that tiles a 1x1024 input into a 256x1024 output: small input down, a big known frame up. */
function tileHead(): Uint8Array {
  const vi = (name: string, dims: number[]): onnx.IValueInfoProto => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'tile-head',
      node: [{ name: 'tile', opType: 'Tile', input: ['x', 'repeats'], output: ['y'] }],
      initializer: [int64Tensor('repeats', [2], [ROWS, 1])],
      input: [vi('x', [1, COLS])],
      output: [vi('y', [ROWS, COLS])],
    },
  });
}

function* inputs(n: number): Generator<Feeds> {
  for (let i = 0; i < n; i++) {
    const r = mulberry32(100 + i);
    yield { x: { dtype: 'float32', dims: [1, COLS], data: Float32Array.from({ length: COLS }, () => r()) } };
  }
}

describe.skipIf(why !== null)(`device agent behind a 10 Mbit/s veth in a network namespace${why ? ` (skipped: ${why})` : ''}`, () => {
  const suffix = `${process.pid % 1000}${randomBytes(2).toString('hex')}`;
  const ns = `partita-${suffix}`;
  const hostIf = `pth${suffix}`;
  const devIf = `ptd${suffix}`;
  // A /30 in 10.0.0.0/8 that nothing on this machine uses yet.
  const taken = ip(['-4', '-o', 'addr']).stdout ?? '';
  let a = 0;
  let b = 0;
  do {
    a = 200 + Math.floor(Math.random() * 50);
    b = Math.floor(Math.random() * 64) * 4;
  } while (taken.includes(`10.${a}.`));
  const hostAddr = `10.${a}.${b}.1`;
  const devAddr = `10.${a}.${b}.2`;
  const t = tempStore();
  let hub: AgentHub | null = null;
  let agent: ChildProcess | null = null;
  let agentOut = '';

  const must = (args: string[]) => {
    const r = ip(args);
    if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`);
  };

  beforeAll(async () => {
    must(['netns', 'add', ns]);
    must(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', devIf]);
    must(['link', 'set', devIf, 'netns', ns]);
    must(['addr', 'add', `${hostAddr}/30`, 'dev', hostIf]);
    must(['link', 'set', hostIf, 'up']);
    must(['netns', 'exec', ns, 'ip', 'addr', 'add', `${devAddr}/30`, 'dev', devIf]);
    must(['netns', 'exec', ns, 'ip', 'link', 'set', devIf, 'up']);
    must(['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    const tc = spawnSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', devIf, 'root', 'tbf', 'rate', '10mbit', 'burst', '32kbit', 'latency', '400ms'], { encoding: 'utf8' });
    if (tc.status !== 0) throw new Error(`tc failed: ${tc.stderr}`);

    // Only this test binds the hub to a non-loopback address: the veth's host side.
    hub = await startAgentHub({ store: t.store, host: hostAddr, heartbeatMs: 2000 });
    const { token } = hub.createPairingToken('netns device');
    agent = spawn('ip', ['netns', 'exec', ns, process.execPath, join(ROOT, 'bin/partita.js'), 'agent', '--server', hub.url, '--token', token, '--name', 'veth-dev'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stdout!.on('data', (d: Buffer) => (agentOut += d.toString()));
    agent.stderr!.on('data', (d: Buffer) => (agentOut += d.toString()));
    await hub.waitForAgent('veth-dev', 30_000).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\nagent output:\n${agentOut}`);
    });
  });

  afterAll(async () => {
    // Always undo everything, in an order that works from any half-finished setup.
    try {
      if (agent && agent.exitCode === null && agent.signalCode === null) {
        agent.kill('SIGKILL');
        await new Promise((r) => agent!.once('exit', r));
      }
    } finally {
      await hub?.close().catch(() => undefined);
      ip(['netns', 'del', ns]);
      ip(['link', 'del', hostIf]);
      t.cleanup();
    }
    expect(ip(['netns', 'list']).stdout ?? '').not.toContain(ns);
    expect(ip(['link', 'show', hostIf]).status).not.toBe(0);
  });

  it('measures an uplink that tracks the kernel-limited 10 Mbit/s', async () => {
    const head = tileHead();
    const n = 3;
    const r = await hub!.runOnAgent('veth-dev', { headBytes: head, tailBytes: null, cutTensors: ['y'], headOutputs: ['y'] }, { requests: n, inputs: inputs(n) });
    const payload = ROWS * COLS * 4;
    for (const q of r.perRequest) expect(q.uplinkPayloadBytes).toBe(payload);
    const perRequestErrors = r.perRequest.map((q) => {
      const theoryMs = ((q.uplinkBytes * 8) / RATE_BPS) * 1000;
      return { measuredMs: q.uplinkSocketMs, theoryMs, relError: (q.uplinkSocketMs - theoryMs) / theoryMs };
    });
    // On the wire each 1448-byte TCP segment is a 1514-byte Ethernet frame, which is what tbf meters.
    const framing = 1514 / 1448;
    const mean = perRequestErrors.reduce((s, e) => s + e.measuredMs, 0) / n;
    const theory = perRequestErrors[0].theoryMs;
    const report = {
      frameBytes: r.perRequest[0].uplinkBytes,
      configuredBps: RATE_BPS,
      theoryMs: +theory.toFixed(1),
      measuredMs: perRequestErrors.map((e) => +e.measuredMs.toFixed(1)),
      relError: +((mean - theory) / theory).toFixed(4),
      relErrorWithFraming: +((mean - theory * framing) / (theory * framing)).toFixed(4),
      effectiveBps: Math.round((r.perRequest[0].uplinkBytes * 8) / (mean / 1000)),
    };
    console.log(`netns uplink: ${JSON.stringify(report)}`);
    for (const e of perRequestErrors) expect(Math.abs(e.relError)).toBeLessThan(0.3);
  });
});
