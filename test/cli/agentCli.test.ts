import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeFilePath } from '../../core/host/workbenchRuntime.js';
import { ROOT } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'partita-agentcli-'));
const db = join(dir, 'w.db');
const children: ChildProcess[] = [];

function partita(...args: string[]): { code: number; stdout: string; stderr: string; json: any } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/partita.js'), '--db', db, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, PARTITA_DB: '' } });
  let json: any = null;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    // not JSON
  }
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}

function start(args: string[]): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, [join(ROOT, 'bin/partita.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' } });
  children.push(child);
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  return { child, out: () => text };
}

async function until<T>(what: string, f: () => T | undefined | null | false, timeoutMs = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('agents through the running workbench (real processes: serve, agent, CLI)', () => {
  let serve: ReturnType<typeof start>;
  beforeAll(async () => {
    expect(partita('init').code).toBe(0);
    serve = start(['serve', '--no-open', '--db', db]);
    await until('the workbench', () => /Device agents attach to ws:\/\//.test(serve.out()));
  }, 180_000);
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('pairs an agent, lists it live, runs a stored plan on it, and stores the run', async () => {
    const pair = partita('devices', 'pair', '--label', 'test device', '--json');
    expect(pair.code, pair.stderr).toBe(0);
    expect(pair.json.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The token itself is never stored, only listed by id.
    expect(partita('devices', 'tokens').stdout).not.toContain(pair.json.token);

    start(['agent', '--server', pair.json.hubUrl, '--token', pair.json.token, '--name', 'bench-pi']);
    const listed = await until('the agent in `devices list`', () => {
      const r = partita('devices', 'list', '--json');
      return r.json?.agents?.find((a: { name: string }) => a.name === 'bench-pi');
    });
    expect(listed.hardware.ort).toMatch(/^\d+\.\d+/);

    const plan = partita('plan', 'fmnist-cnn', '--device', 'raspberry-pi-4b', '--link', 'wifi', '--estimator', 'none', '--json');
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.json.planId).toBeGreaterThan(0);

    const run = partita('run', 'fmnist-cnn', '--plan', String(plan.json.planId), '--agent', 'bench-pi', '--requests', '20', '--eval', 'fashion-mnist-test', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.run).toMatchObject({ target: 'agent', agentName: 'bench-pi', status: 'ok', requests: 20, planId: plan.json.planId });
    expect(run.json.top1).toBeGreaterThan(0.5);
    expect(run.json.predicted.latencyMs).toBeGreaterThan(0);

    const runs = partita('runs', '--json');
    expect(runs.json.runs.map((r: { id: number }) => r.id)).toContain(run.json.run.id);
    const text = partita('runs');
    expect(text.stdout).toContain('agent bench-pi');

    // A missing agent: a clear error, and the failed run is stored with its reason.
    const missing = partita('run', 'fmnist-cnn', '--plan', String(plan.json.planId), '--agent', 'nobody', '--requests', '5');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nobody.*\[agent-not-found\]/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    expect(partita('runs', '--json').json.runs.at(-1)).toMatchObject({ status: 'failed', errorCode: 'agent-not-found' });

    // Revoking the token from another process drops the agent within a heartbeat.
    expect(partita('devices', 'revoke', String(pair.json.id)).code).toBe(0);
    await until('the agent to be dropped', () => partita('devices', 'agents', '--json').json?.agents?.length === 0, 30_000);
  }, 240_000);

  it('export-partitions writes a head and a tail that together compute the whole model', async () => {
    const out = join(dir, 'parts');
    // A plan of our own choosing (cut 9: inside a residual block, two tensors cross) from a plan.json file.
    const file = join(dir, 'cut9.json');
    const exp = partita('export', 'fmnist-resnet', '--device', 'raspberry-pi-4b', '--link', 'lte', '--estimator', 'none', '--out', join(dir, 'exp'));
    expect(exp.code, exp.stderr).toBe(0);
    const pf = JSON.parse(readFileSync(join(dir, 'exp', 'plan.json'), 'utf8'));
    writeFileSync(file, JSON.stringify({ ...pf, cut: 9, deviceLayers: Array.from({ length: 9 }, (_, i) => ({ position: i + 1, name: `l${i + 1}`, opType: 'x', bits: 32 })), activationBits: 32 }));
    const r = partita('export-partitions', 'fmnist-resnet', '--plan', file, '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.cutTensors).toHaveLength(2);
    const ort = await import('onnxruntime-node');
    const head = await ort.InferenceSession.create(join(out, 'head.onnx'));
    const tail = await ort.InferenceSession.create(join(out, 'tail.onnx'));
    const whole = await ort.InferenceSession.create(join(ROOT, 'experiments/zoo/fmnist-resnet.onnx'));
    const x = new ort.Tensor('float32', Float32Array.from({ length: 784 }, (_, i) => (i % 29) / 29), [1, 1, 28, 28]);
    const mid = await head.run({ [head.inputNames[0]]: x });
    const y = await tail.run(Object.fromEntries(tail.inputNames.map((n) => [n, mid[n]])));
    const ref = await whole.run({ [whole.inputNames[0]]: x });
    const a = y[tail.outputNames[0]].data as Float32Array;
    const b = ref[whole.outputNames[0]].data as Float32Array;
    expect(a.length).toBe(b.length);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 4);
    const bad = partita('export-partitions', 'fmnist-cnn', '--plan', file, '--out', join(dir, 'nope'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/\[plan-model-mismatch\]/);
    expect(existsSync(join(dir, 'nope'))).toBe(false);
  }, 120_000);

  it('without a running workbench, agent commands say so and how to start one; the runtime file goes with the server', async () => {
    serve.child.kill('SIGTERM');
    await until('the runtime file to go', () => !existsSync(runtimeFilePath(db)), 20_000);
    const r = partita('run', 'fmnist-cnn', '--plan', '1', '--agent', 'bench-pi');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/No workbench is running.*partita serve.*\[workbench-not-running\]/);
    const list = partita('devices', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/Attached agents: none/);
  }, 60_000);
});
