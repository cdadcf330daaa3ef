import { Option, type Command } from 'commander';
import type { z } from 'zod';
import type { PlanRunResultSchema } from '../api/contract.js';
import { CoreError } from '../api/errors.js';
import { listPairingTokens, revokePairingToken } from '../store/agentStore.js';
import { listPlanRuns, listPlans } from '../store/planStore.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import type { AgentInfo } from './agentHub.js';
import { preparePartitions } from './planPartitions.js';
import { refitProfile } from './refit.js';
import { progressBar } from './progress.js';
import { writeFileAtomic } from './quantize.js';
import { loadPlanRef, runPlan, type PlanRunResult } from './runPlan.js';
import { formatBytes, formatTable } from './table.js';
import { connectWorkbench } from './workbenchRuntime.js';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** What the commands here need from cli.ts. */
export interface CliKit {
  ctx(cmd: Command): { store: SqliteStore; out: { result(value: unknown, text: () => string): void }; opts: { db?: string; json?: boolean } };
  positiveInt(what: string): (v: string) => number;
  nonNegativeInt(what: string): (v: string) => number;
  dbPath(cmd: Command): string;
}

const ms = (x: number | undefined | null) => (x === undefined || x === null || !Number.isFinite(x) ? '-' : x < 10 ? x.toFixed(3) : x.toFixed(1));
const pct = (x: number | undefined | null) => (x === undefined || x === null || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(1)}%`);

/** Predicted next to measured, per stage, as the CLI prints a run. */
export function formatRun(r: PlanRunResult | z.infer<typeof PlanRunResultSchema>): string {
  const p = r.predicted;
  const m = r.measured;
  const rows: [string, number | undefined, number, number, number | undefined][] = [
    ['device', p?.breakdownMs.device, m.median.deviceMs, m.p90.deviceMs, r.relativeError?.deviceMs],
    ['uplink', p?.breakdownMs.uplink, m.median.uplinkMs, m.p90.uplinkMs, r.relativeError?.uplinkMs],
    ['server', p?.breakdownMs.server, m.median.serverMs, m.p90.serverMs, r.relativeError?.serverMs],
    ['result', p?.breakdownMs.result, m.median.downlinkMs, m.p90.downlinkMs, r.relativeError?.downlinkMs],
    ['end to end', p?.latencyMs, m.median.latencyMs, m.p90.latencyMs, r.relativeError?.latencyMs],
  ];
  const run = r.run;
  return [
    `Run ${run.id} of plan ${run.planId ?? '(file)'}: cut ${run.cut}, ${run.requests} requests${run.pipelined ? ' pipelined' : ''} on ${run.target === 'agent' ? `agent '${run.agentName}'` : 'this machine'} (device '${run.device}', link '${run.link}', server '${run.server}').`,
    formatTable(['stage', 'predicted ms', 'measured median ms', 'measured p90 ms', 'error'], rows.map(([s, a, b, c, e]) => [s, ms(a), ms(b), ms(c), pct(e)])),
    `Throughput ${m.throughputRps.toFixed(1)} req/s; uplink ${formatBytes(m.bytes.uplinkPerRequest ?? 0)} per request; head ${formatBytes(m.bytes.headFile ?? 0)} (weights ${formatBytes(m.bytes.headWeights ?? 0)})` +
      (m.download ? `, downloaded once in ${ms(m.download.ms)} ms (predicted ${ms(p?.downloadMs)})` : '') +
      (r.top1 === null ? '.' : `; top-1 ${(100 * r.top1).toFixed(2)}%.`),
    ...(r.predictionError ? [`No prediction: ${r.predictionError}`] : []),
  ].join('\n');
}

/** The agents of the running workbench on this database, or why there are none (never fails). */
export async function attachedAgents(dbPath: string): Promise<{ hubUrl: string | null; agents: AgentInfo[]; note: string }> {
  try {
    const api = await connectWorkbench(dbPath);
    try {
      const r = (await api.call('agents.list', {})) as { hubUrl: string | null; agents: AgentInfo[] };
      return { ...r, note: '' };
    } finally {
      api.close();
    }
  } catch (e) {
    return { hubUrl: null, agents: [], note: `none (${(e as Error).message})` };
  }
}

export function agentTable(agents: AgentInfo[]): string {
  if (agents.length === 0) return 'No agents attached.';
  return formatTable(
    ['agent', 'cpu', 'cores', 'memory', 'arch', 'ORT', 'connected', 'last heartbeat', 'rtt ms', 'cached heads'],
    agents.map((a) => [a.name, a.hardware.cpu.slice(0, 40), a.hardware.cores, formatBytes(a.hardware.memoryBytes), a.hardware.arch, a.hardware.ort, a.connectedAt, a.lastHeartbeatAt ?? '-', ms(a.rttMs), a.cachedModels.length]),
  );
}

export function addRunCommands(program: Command, devices: Command, kit: CliKit): void {
  const { ctx, positiveInt, nonNegativeInt } = kit;

  program
    .command('run')
    .description('run a plan for real: head on this machine (or an attached agent), cut tensors over the emulated link, tail here; stored beside the prediction')
    .argument('<model>', 'model name or id')
    .requiredOption('--plan <file|id>', 'stored plan id (printed by `partita plan`) or a plan.json from `partita export`')
    .option('--agent <name>', 'run the head on this attached device agent (needs a running `partita serve`)')
    .option('--requests <n>', 'requests to send', positiveInt('--requests'), 100)
    .option('--eval <dataset>', 'labelled dataset: requests are its samples and top-1 is measured (default: seeded random inputs)')
    .option('--offset <n>', 'first sample of --eval', nonNegativeInt('--offset'), 0)
    .option('--calib <dataset>', 'dataset for activation ranges when the plan quantizes activations')
    .addOption(new Option('--format <f>', 'head weights').choices(['simulation', 'qdq', 'matmul-nbits']).default('simulation'))
    .option('--device <name>', "override the plan's device profile (the prediction uses it)")
    .option('--link <name>', "override the plan's link (emulated: bandwidth and RTT)")
    .option('--server <name>', "override the plan's server profile (e.g. this host's measured profile)")
    .option('--pipelined', 'let the device start request i+1 while the link and server handle request i')
    .option('--retry <runId>', 'this run retries a failed one', positiveInt('--retry'))
    .action(async (model: string, o: Record<string, any>, cmd: Command) => {
      const common = {
        model,
        plan: String(o.plan),
        requests: o.requests,
        eval: o.eval,
        offset: o.offset,
        calib: o.calib,
        format: o.format,
        device: o.device,
        link: o.link,
        server: o.server,
        pipelined: Boolean(o.pipelined),
        retryOf: o.retry,
      };
      const bar = progressBar('running');
      if (o.agent) {
        // The agent is attached to the running workbench, so the run happens there (and is stored by it).
        const { out } = ctx(cmd);
        const api = await connectWorkbench(kit.dbPath(cmd));
        try {
          const r = await api.runJob('runs.start', { ...common, agent: o.agent } as never, { onProgress: (p) => bar.update(p.done, p.total, p.stage) });
          bar.stop();
          out.result(r, () => formatRun(r as never));
        } finally {
          bar.stop();
          api.close();
        }
        return;
      }
      const { store, out } = ctx(cmd);
      const abort = new AbortController();
      const onSig = () => abort.abort();
      process.once('SIGINT', onSig);
      try {
        const r = await runPlan(store, { ...common, onProgress: (stage, d, t) => bar.update(d, t, stage), signal: abort.signal });
        bar.stop();
        out.result(r, () => formatRun(r));
      } finally {
        process.off('SIGINT', onSig);
        bar.stop();
        store.close();
      }
    });

  program
    .command('runs')
    .description('stored runs with predicted vs measured end-to-end latency')
    .argument('[model]', 'only this model')
    .action((model: string | undefined, _o: unknown, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const runs = listPlanRuns(store, model ? { modelId: store.requireModel(model).id } : {});
        out.result({ runs }, () =>
          runs.length === 0
            ? 'No runs yet. Run a plan with `partita run MODEL --plan ID`.'
            : formatTable(
                ['run', 'model', 'plan', 'where', 'device', 'link', 'cut', 'requests', 'status', 'predicted ms', 'measured ms', 'error', 'req/s', 'top-1'],
                runs.map((r) => {
                  const measured = r.measured as { median?: { latencyMs: number }; throughputRps?: number } | null;
                  const predicted = r.predicted as { latencyMs?: number } | null;
                  const m = measured?.median?.latencyMs;
                  const p = predicted?.latencyMs;
                  return [
                    r.id,
                    store.findModel(r.modelId)?.name ?? r.modelId,
                    r.planId ?? '-',
                    r.target === 'agent' ? `agent ${r.agentName}` : 'local',
                    r.device,
                    r.link,
                    r.cut,
                    r.requests,
                    r.status === 'ok' ? 'ok' : `failed: ${r.errorCode}`,
                    ms(p),
                    ms(m),
                    m !== undefined && p !== undefined ? pct((m - p) / m) : '-',
                    measured?.throughputRps === undefined ? '-' : measured.throughputRps.toFixed(1),
                    r.top1 === null ? '-' : `${(100 * r.top1).toFixed(2)}%`,
                  ];
                }),
              ),
        );
      } finally {
        store.close();
      }
    });

  program
    .command('plans')
    .description('stored plans (from `partita plan`), to run by id')
    .argument('[model]', 'only this model')
    .action((model: string | undefined, _o: unknown, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const plans = listPlans(store, model ? store.requireModel(model).id : undefined);
        out.result({ plans }, () =>
          formatTable(
            ['plan', 'model', 'device', 'link', 'server', 'cut', 'bits', 'activation bits', 'predicted ms', 'created'],
            plans.map((p) => {
              const req = (p.request ?? {}) as { device?: string; link?: string; server?: string };
              return [p.id, store.findModel(p.modelId)?.name ?? p.modelId, req.device ?? '-', req.link ?? '-', req.server ?? '-', p.plan.cut, p.plan.bits.join(' ') || '-', p.plan.activationBits ?? '-', ms((p.plan as { latencyMs?: number }).latencyMs), p.createdAt];
            }),
          ),
        );
      } finally {
        store.close();
      }
    });

  program
    .command('export-partitions')
    .description('write the head and tail of a stored or exported plan as ONNX files (runnable in any onnxruntime)')
    .argument('<model>', 'model name or id')
    .requiredOption('--plan <file|id>', 'stored plan id or plan.json')
    .requiredOption('--out <dir>', 'folder to write head.onnx and tail.onnx into')
    .addOption(new Option('--format <f>', 'head weights').choices(['simulation', 'qdq', 'matmul-nbits']).default('simulation'))
    .option('--calib <dataset>', 'dataset for activation ranges when the plan quantizes activations')
    .action(async (model: string, o: Record<string, any>, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const ref = loadPlanRef(store, model, String(o.plan));
        const { parts } = await preparePartitions(store, model, ref.plan, { format: o.format, calib: o.calib });
        const dir = resolve(o.out);
        try {
          mkdirSync(dir, { recursive: true });
        } catch (e) {
          throw new CoreError('output-unwritable', `Cannot create '${o.out}' (${(e as Error).message}). Choose a folder you may write to.`);
        }
        const files: Record<string, number> = {};
        for (const [name, bytes] of [['head.onnx', parts.headBytes], ['tail.onnx', parts.tailBytes]] as const) {
          if (!bytes) continue;
          writeFileAtomic(join(dir, name), bytes);
          files[name] = bytes.length;
        }
        out.result({ outDir: dir, files, cutTensors: parts.cutTensors, wire: parts.wire }, () =>
          [`Wrote ${Object.entries(files).map(([n, b]) => `${n} (${formatBytes(b)})`).join(', ')} to ${dir}.`, `Cut tensors: ${parts.cutTensors.join(', ') || '(none: device only)'}.`].join('\n'),
        );
      } finally {
        store.close();
      }
    });

  // Device agents: pairing tokens live in the store; attached agents live in the running workbench.
  devices
    .command('pair')
    .description('issue a pairing token for `partita agent --token` (shown once; revocable)')
    .requiredOption('--label <text>', 'what the token is for, e.g. the device name')
    .action(async (o: { label: string }, cmd: Command) => {
      const { out } = ctx(cmd);
      const api = await connectWorkbench(kit.dbPath(cmd));
      try {
        const r = await api.call('agents.pair', { label: o.label }) as { id: number; label: string; token: string; hubUrl: string };
        out.result(r, () => `Pairing token ${r.id} ('${r.label}'), shown only now:\n  ${r.token}\nOn the device: partita agent --server ${r.hubUrl} --token ${r.token}`);
      } finally {
        api.close();
      }
    });
  devices
    .command('tokens')
    .description('list pairing tokens (their values are never stored)')
    .action((_o: unknown, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const tokens = listPairingTokens(store);
        out.result({ tokens }, () => formatTable(['id', 'label', 'created', 'last used', 'revoked'], tokens.map((t) => [t.id, t.label, t.createdAt, t.lastUsedAt ?? '-', t.revokedAt ?? '-'])));
      } finally {
        store.close();
      }
    });
  devices
    .command('revoke')
    .description('revoke a pairing token; agents attached with it are dropped within a heartbeat')
    .argument('<id>', 'token id', positiveInt('token id'))
    .action((id: number, _o: unknown, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        if (!revokePairingToken(store, id)) throw new CoreError('agent-token-unknown', `No live pairing token ${id}. List them with \`partita devices tokens\`.`);
        out.result({ revoked: id }, () => `Revoked pairing token ${id}.`);
      } finally {
        store.close();
      }
    });
  devices
    .command('agents')
    .description('the device agents attached to the running workbench, live')
    .option('--watch', 'refresh every 2 s until Ctrl+C')
    .action(async (o: { watch?: boolean }, cmd: Command) => {
      const { out, opts } = ctx(cmd);
      const api = await connectWorkbench(kit.dbPath(cmd));
      try {
        for (;;) {
          const r = (await api.call('agents.list', {})) as { hubUrl: string | null; agents: AgentInfo[] };
          if (o.watch && !opts.json && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
          out.result(r, () => `Agent hub: ${r.hubUrl ?? 'off'}\n${agentTable(r.agents)}`);
          if (!o.watch) break;
          await new Promise((ok) => setTimeout(ok, 2000));
        }
      } finally {
        api.close();
      }
    });
  devices
    .command('refit')
    .description('refit a device profile from the stored runs that used it (scale of its layer times + a per-inference overhead)')
    .argument('<device>', 'device profile name')
    .addOption(new Option('--stage <s>', 'refit it as the device (runs with a head) or as the server (runs with a tail)').choices(['device', 'server']).default('device'))
    .option('--as <name>', 'save the refitted profile under this name (default: replace it)')
    .option('--dry-run', 'show the fit, save nothing')
    .action(async (name: string, o: { stage: 'device' | 'server'; as?: string; dryRun?: boolean }, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const r = await refitProfile(store, name, o.stage, { as: o.as, save: !o.dryRun });
        out.result(r, () =>
          [
            `${o.dryRun ? 'Would refit' : 'Refitted'} '${name}' as the ${o.stage} from ${r.fit.samples} runs (${r.runs.join(', ')}): layer times x${r.fit.scale.toFixed(3)}, +${r.fit.overheadMs.toFixed(3)} ms per inference${o.dryRun ? '' : `; saved as '${r.after.name}'`}.`,
            `${o.stage} stage error: before median ${pct(r.beforeError.median)}, worst ${pct(r.beforeError.worst)}; after median ${pct(r.fit.fitted.median)}, worst ${pct(r.fit.fitted.worst)}` +
              (r.fit.leaveOneOut ? `; leave-one-run-out median ${pct(r.fit.leaveOneOut.median)}, worst ${pct(r.fit.leaveOneOut.worst)}.` : '.'),
          ].join('\n'),
        );
      } finally {
        store.close();
      }
    });
  devices
    .command('save-agent')
    .description('benchmark an attached agent and save the measured profile as a device for the planner')
    .argument('<agent>', 'agent name')
    .option('--as <name>', 'device name (default: the agent name)')
    .option('--runs <n>', 'timed runs per kernel', positiveInt('--runs'), 30)
    .option('--threads <n>', 'intra-op threads on the device', positiveInt('--threads'), 1)
    .action(async (agent: string, o: { as?: string; runs: number; threads: number }, cmd: Command) => {
      const { out } = ctx(cmd);
      const api = await connectWorkbench(kit.dbPath(cmd));
      const bar = progressBar('benchmarking');
      try {
        const d = await api.runJob('agents.bench', { agent, runs: o.runs, threads: o.threads, saveAs: o.as ?? agent }, { onProgress: (p) => bar.update(p.done, p.total, p.stage) });
        bar.stop();
        out.result(d, () => `Saved measured device '${d.name}' from agent '${agent}': FP32 ${(d.macsPerSecond.fp32 / 1e9).toFixed(1)}, INT8 ${(d.macsPerSecond.int8 / 1e9).toFixed(1)} GMAC/s; ${(1000 * d.layerOverheadMs).toFixed(1)} us per layer.`);
      } finally {
        bar.stop();
        api.close();
      }
    });
}
