import { createHash, randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { CoreError } from '../api/errors.js';
import type { PlanningProblem } from '../api/planning.js';
import type { ApiHandlers } from '../rpc/server.js';
import { JobManager } from '../rpc/jobs.js';
import { computeBaselines } from '../plan/baselines.js';
import { paretoFront, withOwnOptimum, type ParetoFront } from '../plan/pareto.js';
import { solve, validateProblem } from '../plan/solver.js';
import type { DeviceProfile } from '../plan/devices.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { addFashionMnist } from './datasets.js';
import { evaluateModel } from './evaluation.js';
import { importModel } from './models.js';
import { buildPlanningProblem, resolveDevice, resolveLink, resolveServer, seedPresets } from './planning.js';
import { profileModel } from './profiling.js';
import { quantizeModel, writeFileAtomic } from './quantize.js';
import { estimateDegradation } from './sensitivity.js';
import type { AgentHub } from './agentHub.js';
import { runPlan } from './runPlan.js';
import { listPairingTokens, revokePairingToken } from '../store/agentStore.js';
import { listPlanRuns, listPlans, savePlan } from '../store/planStore.js';

/** Renders a map `{ default: 8, conv1: 4 }` or a single width as the CLI's spec string. */
function bitsSpec(bits: number | string | Record<string, number>): string {
  if (typeof bits === 'number') return `default=${bits}`;
  if (typeof bits === 'string') return bits;
  return Object.entries(bits)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/**
 * SQL a query cell may run: one statement that only reads. better-sqlite3 reports whether a statement writes
 * (`reader`), and the second, read-only connection makes sure nothing can change the store anyway.
 */
function runQuery(ro: Database.Database, sql: string, params: unknown, maxRows: number) {
  let stmt: Database.Statement;
  try {
    stmt = ro.prepare(sql);
  } catch (e) {
    throw new CoreError('query-invalid', `The query does not parse (${(e as Error).message}). Check the SQL.`);
  }
  if (!stmt.reader) throw new CoreError('query-not-read-only', 'Query cells may only read (SELECT, WITH … SELECT, PRAGMA reads). Change the store through the commands instead.');
  const it = params === undefined ? stmt.raw(true).iterate() : stmt.raw(true).iterate(params as never);
  const rows: (string | number | boolean | null)[][] = [];
  let truncated = false;
  for (const r of it as Iterable<unknown[]>) {
    if (rows.length === maxRows) {
      truncated = true;
      break;
    }
    rows.push(
      r.map((v) => {
        if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
        if (typeof v === 'bigint') return v.toString();
        if (v instanceof Uint8Array) return `<blob ${v.byteLength} bytes>`;
        return String(v);
      }),
    );
  }
  return { columns: stmt.columns().map((c) => c.name), rows, truncated };
}

/** The contract's methods implemented over the services of core/host: what browser mode and Electron serve. */
export function createHandlers(store: SqliteStore, o: { allowWritesUnder?: string; hub?: AgentHub } = {}): { handlers: ApiHandlers; jobs: JobManager; close(): void } {
  const jobs = new JobManager();
  const ro = new Database(store.path, { readonly: true, fileMustExist: true });
  seedPresets(store);
  const safeOut = (out: string): string => {
    if (o.allowWritesUnder && !out.startsWith(o.allowWritesUnder)) {
      throw new CoreError('output-not-allowed', `'${out}' is outside the workbench's data folder '${o.allowWritesUnder}'. Write quantized models there.`);
    }
    return out;
  };
  // The budget sweep of a front does not depend on the budget, so a budget edit (the notebook's live case) reuses
  // the sweep of the same problem and adds one solve (withOwnOptimum). A few recent problems are kept.
  const sweeps = new Map<string, ParetoFront>();
  const pareto = (problem: PlanningProblem, points: number): { front: ParetoFront; own: ReturnType<typeof solve> } => {
    const t0 = performance.now();
    const loose = { ...problem, constraints: { ...problem.constraints, maxDegradation: 1 } };
    const key = createHash('sha256').update(JSON.stringify(loose)).update(`|${points}`).digest('hex');
    let base = sweeps.get(key);
    if (!base) {
      base = paretoFront(loose, { points });
      sweeps.set(key, base);
      if (sweeps.size > 8) sweeps.delete(sweeps.keys().next().value!);
    }
    const own = solve(problem);
    return { front: withOwnOptimum(base, own.status === 'optimal' ? own.plan : null, performance.now() - t0), own };
  };
  const requireHub = (): AgentHub => {
    if (!o.hub) throw new CoreError('agent-hub-off', 'This workbench runs no agent hub, so no device agent can attach. Start it with `partita serve` (agents attach to the URL it prints).');
    return o.hub;
  };
  const handlers: ApiHandlers = {
    'models.list': () => ({ models: store.listModels() }),
    'models.import': async (a) => importModel(store, a.path, { name: a.name }),
    'models.get': (a) => ({ model: store.requireModel(a.model) }),
    'models.layers': (a) => {
      const m = store.requireModel(a.model);
      return { model: m.name, layers: store.layers(m.id) };
    },
    'profile.run': (a, ctx) =>
      jobs.start(ctx, 'profile.run', (job) =>
        profileModel(store, a.model, { inputShape: a.inputShape, latency: a.latency, runs: a.runs, warmup: a.warmup, threads: a.threads, onProgress: job.progress, signal: job.signal }),
      ),
    'datasets.list': () => ({ datasets: store.listDatasets() }),
    'datasets.addFashionMnist': (a) => ({ datasets: addFashionMnist(store, a.dir) }),
    'eval.run': (a, ctx) =>
      jobs.start(ctx, 'eval.run', async (job) => {
        const { predictions: _p, ...r } = await evaluateModel(store, String(a.model), a.dataset, { ...a, onProgress: (d, t) => job.progress('eval', d, t), signal: job.signal });
        return r;
      }),
    'quant.quantize': (a, ctx) =>
      jobs.start(ctx, 'quant.quantize', async (job) => {
        const out = safeOut(a.out);
        const r = await quantizeModel(store, String(a.model), { ...a, bits: bitsSpec(a.bits), onProgress: (d, t) => job.progress('calibration', d, t), signal: job.signal });
        const path = writeFileAtomic(out, r.bytes);
        const { bytes, ...rest } = r;
        return { ...rest, out: path, bytes: bytes.byteLength };
      }),
    'sensitivity.run': (a, ctx) =>
      jobs.start(ctx, 'sensitivity.run', (job) => estimateDegradation(store, String(a.model), { ...a, onProgress: job.progress, signal: job.signal })),
    'devices.list': () => ({ devices: store.listDevices().map((d) => d.profile as DeviceProfile) }),
    'links.list': () => ({ links: store.listLinks() }),
    'plan.solve': (a) => solve(validateProblem(a.problem)),
    'plan.build': (a) => buildPlanningProblem(store, { ...a, model: String(a.model) }),
    'plan.pareto': (a) => pareto(validateProblem(a.problem), a.points).front,
    'plan.explore': (a) => {
      const problem = validateProblem(a.problem);
      const { front, own } = pareto(problem, a.points);
      return { front, solve: own, baselines: Object.values(computeBaselines(problem)).filter((b) => b !== null) };
    },
    'plan.baselines': (a) => ({ baselines: Object.values(computeBaselines(validateProblem(a.problem))).filter((b) => b !== null) }),
    'store.query': (a) => runQuery(ro, a.sql, a.params, a.maxRows),
    'jobs.cancel': (a) => jobs.cancel(a.jobId),
    'notebooks.list': () => ({ notebooks: store.listNotebooks() }),
    'notebooks.get': (a) => {
      const n = store.getNotebook(a.id);
      if (!n) throw new CoreError('notebook-unknown', `No notebook '${a.id}'. List them with notebooks.list.`);
      return { notebook: n as never };
    },
    'notebooks.save': (a) => ({ notebook: store.saveNotebook({ id: a.notebook.id ?? randomUUID().slice(0, 8), name: a.notebook.name, cells: a.notebook.cells }) as never }),
    'agents.list': () => ({ hubUrl: o.hub?.url ?? null, agents: o.hub?.agents() ?? [] }),
    'agents.tokens': () => ({ tokens: listPairingTokens(store) }),
    'agents.pair': (a) => ({ ...requireHub().createPairingToken(a.label), hubUrl: requireHub().url }),
    'agents.revoke': (a) => ({ revoked: o.hub ? o.hub.revokePairingToken(a.id) : revokePairingToken(store, a.id) }),
    'agents.bench': (a, ctx) =>
      jobs.start(ctx, 'agents.bench', async (job) => {
        job.progress('bench', 0, 1);
        const d = await requireHub().benchmark(a.agent, { runs: a.runs, threads: a.threads });
        const profile = a.saveAs ? { ...d, name: a.saveAs } : d;
        if (a.saveAs) store.saveDevice({ name: a.saveAs, kind: 'measured', source: profile.source, profile });
        job.progress('bench', 1, 1);
        return profile;
      }),
    'plans.save': (a) => {
      const m = store.requireModel(a.model);
      const { cut, bits, activationBits } = a.plan;
      if (cut > m.layerCount) throw new CoreError('plan-invalid', `The plan cuts after layer ${cut}, but '${m.name}' has ${m.layerCount} layers. Pick a plan made for this model.`);
      if (bits.length !== cut) throw new CoreError('plan-invalid', `A plan has one weight width per head layer: cut ${cut} needs ${cut} bits, got ${bits.length}. Pick a plan from a Pareto view of '${m.name}'.`);
      if (activationBits === null && cut < m.layerCount) throw new CoreError('plan-invalid', `The plan cuts after layer ${cut} of ${m.layerCount} but sends nothing (activationBits null). Only a plan that runs every layer on the device sends nothing.`);
      // Names are checked now, so a stored plan can always be predicted and run.
      resolveDevice(store, a.request.device);
      resolveLink(store, a.request.link);
      resolveServer(a.request.server ?? 'a100', store);
      const saved = savePlan(store, { modelId: m.id, request: { ...a.request, server: a.request.server ?? 'a100' }, plan: { cut, bits: [...bits], activationBits } });
      return { id: saved.id };
    },
    'plans.list': (a) => {
      const names = new Map(store.listModels().map((m) => [m.id, m.name]));
      const plans = listPlans(store, a.model === undefined ? undefined : store.requireModel(a.model).id);
      return { plans: plans.map((p) => ({ ...p, model: names.get(p.modelId) ?? `#${p.modelId}` })) };
    },
    'runs.start': (a, ctx) =>
      jobs.start(ctx, 'runs.start', (job) =>
        runPlan(store, {
          ...a,
          model: String(a.model),
          plan: a.plan,
          agent: a.agent ? { hub: requireHub(), name: a.agent } : undefined,
          onProgress: (stage, d, t) => job.progress(stage, d, t),
          signal: job.signal,
        }),
      ),
    'runs.list': (a) => ({ runs: listPlanRuns(store, a.model === undefined ? {} : { modelId: store.requireModel(a.model).id }) }),
  };
  return { handlers, jobs, close: () => ro.close() };
}
