/**
 * Predicted vs measured end-to-end latency (issue "Running partitions", closing measurement).
 *
 * A device agent runs as its own OS process on this machine (loopback WebSocket) and attaches to an in-process hub;
 * links are emulated in user space on top of the socket (bandwidth + RTT). Steps:
 *   1. measure this host (`this-host`, the server) and the agent (`loop`, the device) with the micro-benchmarks;
 *   2. FIT set: 12 plans (3 zoo models x 4 cuts, FP32 heads, over two links) run on the agent, stored;
 *   3. refit the agent's profile as a device and this host's as a server from those stored runs;
 *   4. EVAL set: 12 other plans (other cuts, a third link, FP16 link for some) run on the agent; each run's
 *      end-to-end median latency compared with the prediction of the micro-benchmark profiles and of the refitted
 *      ones. The eval runs take no part in the fit.
 *
 * `npx tsx experiments/predicted-vs-measured/run.ts [REQUESTS] [--db FILE]` (default 200 requests per run, a temp DB).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgentHub } from '../../core/host/agentHub.js';
import { formatTable } from '../../core/host/table.js';
import { refitProfile } from '../../core/host/refit.js';
import { predictRun, runPlan } from '../../core/host/runPlan.js';
import { seedDefaults } from '../../core/host/seed.js';
import { seedPresets } from '../../core/host/planning.js';
import { packageRoot } from '../../core/host/packageRoot.js';
import { benchHostDevice } from '../../core/run/deviceBench.js';
import { savePlan } from '../../core/store/planStore.js';
import { SqliteStore } from '../../core/store/sqliteStore.js';

const requests = Number(process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 200);
const dbArg = process.argv.indexOf('--db');
const dir = mkdtempSync(join(tmpdir(), 'partita-pvm-'));
const store = SqliteStore.open(dbArg > 0 ? process.argv[dbArg + 1] : join(dir, 'pvm.db'));
const log = (s: string) => process.stderr.write(s + '\n');

const LINKS = [
  { name: 'emu-10M-20ms', uplinkBps: 10e6, downlinkBps: 10e6, rttMs: 20 },
  { name: 'emu-50M-5ms', uplinkBps: 50e6, downlinkBps: 50e6, rttMs: 5 },
  { name: 'emu-2M-40ms', uplinkBps: 2e6, downlinkBps: 8e6, rttMs: 40 },
];

async function main(): Promise<void> {
  await seedDefaults(store);
  seedPresets(store);
  for (const l of LINKS) store.saveLink({ ...l, kind: 'custom', source: 'emulated in user space (linkEmulator.ts)', loss: 0 });
  log('benchmarking this host (server profile)…');
  const host = await benchHostDevice('this-host', { runs: 30 });
  store.saveDevice({ name: host.name, kind: 'measured', source: host.source, profile: host });

  const hub = await startAgentHub({ store, heartbeatMs: 2000 });
  const token = hub.createPairingToken('predicted-vs-measured');
  const agent = spawn(process.execPath, [join(packageRoot(), 'bin/partita.js'), 'agent', '--server', hub.url, '--token', token.token, '--name', 'loop'], { stdio: 'ignore' });
  try {
    await hub.waitForAgent('loop', 30_000);
    log('benchmarking the agent (device profile)…');
    await hub.benchmark('loop', { runs: 30, save: true });

    const models = ['fmnist-cnn', 'fmnist-resnet', 'fmnist-mlp'];
    const plansFor = (fractions: number[], links: string[], actBits: (i: number) => number) => {
      const out: { model: string; id: number; link: string }[] = [];
      for (const model of models) {
        const m = store.requireModel(model);
        fractions.forEach((f, i) => {
          const cut = Math.max(1, Math.min(m.layerCount - 1, Math.round(f * m.layerCount)));
          const link = links[i % links.length];
          const p = savePlan(store, { modelId: m.id, request: { device: 'loop', link, server: 'this-host' }, plan: { cut, bits: new Array(cut).fill(32), activationBits: actBits(i) } });
          out.push({ model, id: p.id, link });
        });
      }
      return out;
    };
    const fitPlans = plansFor([0.2, 0.4, 0.6, 0.85], ['emu-10M-20ms', 'emu-50M-5ms'], () => 32);
    const evalPlans = plansFor([0.3, 0.5, 0.7, 0.95], ['emu-2M-40ms', 'emu-50M-5ms', 'emu-10M-20ms', 'emu-2M-40ms'], (i) => (i % 2 ? 16 : 32));

    const run = async (p: { model: string; id: number }, device: string, server: string) => {
      log(`  ${p.model} plan ${p.id}`);
      return runPlan(store, { model: p.model, plan: String(p.id), device, server, requests, eval: 'fashion-mnist-test', agent: { hub, name: 'loop' } });
    };
    log(`FIT set: ${fitPlans.length} runs of ${requests} requests on the agent…`);
    for (const p of fitPlans) await run(p, 'loop', 'this-host');
    const dev = await refitProfile(store, 'loop', 'device', { as: 'loop-fit' });
    const srv = await refitProfile(store, 'this-host', 'server', { as: 'this-host-fit' });

    log(`EVAL set: ${evalPlans.length} runs…`);
    const rows: (string | number)[][] = [];
    const errBench: number[] = [];
    const errFit: number[] = [];
    for (const p of evalPlans) {
      const r = await run(p, 'loop-fit', 'this-host-fit');
      const m = r.measured.median.latencyMs;
      const bench = await predictRun(store, p.model, r.run.plan, { device: 'loop', link: p.link, server: 'this-host' });
      const eB = (m - bench.latencyMs) / m;
      const eF = (m - r.predicted!.latencyMs) / m;
      errBench.push(Math.abs(eB));
      errFit.push(Math.abs(eF));
      rows.push([p.model, r.run.cut, r.run.plan.activationBits ?? '-', p.link, m, r.measured.median.deviceMs, r.measured.median.uplinkMs, r.measured.median.serverMs, r.measured.median.downlinkMs, bench.latencyMs, `${(100 * eB).toFixed(1)}%`, r.predicted!.latencyMs, `${(100 * eF).toFixed(1)}%`]);
    }
    const medWorst = (v: number[]) => {
      const s = [...v].sort((a, b) => a - b);
      return `median ${(100 * (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2).toFixed(1)}%, worst ${(100 * s[s.length - 1]).toFixed(1)}%`;
    };
    console.log(`\nRefit on the ${dev.fit.samples} FIT runs: device 'loop' x${dev.fit.scale.toFixed(3)} + ${dev.fit.overheadMs.toFixed(3)} ms (stage error ${(100 * dev.beforeError.median).toFixed(1)}% -> ${(100 * dev.fit.fitted.median).toFixed(1)}% median); server 'this-host' x${srv.fit.scale.toFixed(3)} + ${srv.fit.overheadMs.toFixed(3)} ms (${(100 * srv.beforeError.median).toFixed(1)}% -> ${(100 * srv.fit.fitted.median).toFixed(1)}%).`);
    console.log(`\nEVAL set: ${evalPlans.length} plans on the loopback agent, ${requests} requests each (Fashion-MNIST test images), medians:`);
    console.log(formatTable(['model', 'cut', 'link bits', 'link', 'measured ms', 'device', 'uplink', 'server', 'result', 'predicted (bench) ms', 'error', 'predicted (refit) ms', 'error'], rows));
    console.log(`End-to-end relative error, micro-benchmark profiles: ${medWorst(errBench)}; refitted profiles: ${medWorst(errFit)}.`);
  } finally {
    agent.kill('SIGTERM');
    await hub.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
