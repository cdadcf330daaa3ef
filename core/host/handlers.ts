import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { PROBLEM_REGISTRY_SIZE, type ApiJobResult, type ApiParsedArg } from '../api/contract.js';
import { CoreError } from '../api/errors.js';
import type { Constraints, Objective, PlanningProblem } from '../api/planning.js';
import type { ApiHandlers } from '../rpc/server.js';
import { JobManager, type JobContext } from '../rpc/jobs.js';
import { computeBaselines } from '../plan/baselines.js';
import { ProblemExplorer } from '../plan/explore.js';
import { evaluatePlan } from '../plan/planCost.js';
import { solve, validateProblem } from '../plan/solver.js';
import { patchProblem } from '../plan/validate.js';
import type { DeviceProfile } from '../plan/devices.js';
import { sqliteOptions, type SqliteStore } from '../store/sqliteStore.js';
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
import { findPlan, listPlanRuns, listPlans, savePlan } from '../store/planStore.js';
import { exportPlan } from './exportPlan.js';
import { duplicateNotebook } from './notebookFiles.js';
import { decodeChunk, UploadArea } from './uploads.js';

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
export function createHandlers(store: SqliteStore, o: { allowWritesUnder?: string; hub?: AgentHub; exportsDir?: string } = {}): { handlers: ApiHandlers; jobs: JobManager; close(): void } {
  const jobs = new JobManager();
  const ro = new Database(store.path, { ...sqliteOptions(), readonly: true, fileMustExist: true });
  const uploads = new UploadArea();
  seedPresets(store);
  const safeOut = (out: string): string => {
    if (o.allowWritesUnder && !out.startsWith(o.allowWritesUnder)) {
      throw new CoreError('output-not-allowed', `'${out}' is outside the workbench's data folder '${o.allowWritesUnder}'. Write quantized models there.`);
    }
    return out;
  };
  // Problems kept for the live view (plan.register), by content hash, most recently used last; and their explorers
  // (the budget-independent work: the front's sweep, the compiled search, the fixed baselines), by the problem
  // without its objective and constraints, so every budget of one problem shares them (also for the whole-problem
  // form of plan.explore and plan.pareto).
  const registered = new Map<string, { problem: PlanningProblem; explorer: ProblemExplorer }>();
  const explorers = new Map<string, ProblemExplorer>();
  const touch = <V>(m: Map<string, V>, key: string, v: V, max: number): V => {
    m.delete(key);
    m.set(key, v);
    while (m.size > max) m.delete(m.keys().next().value!);
    return v;
  };
  const explorerFor = (problem: PlanningProblem): ProblemExplorer => {
    const key = createHash('sha256').update(JSON.stringify({ ...problem, objective: null, constraints: null })).digest('hex');
    return touch(explorers, key, explorers.get(key) ?? new ProblemExplorer(problem), PROBLEM_REGISTRY_SIZE);
  };
  const registeredProblem = (id: string) => {
    const e = registered.get(id);
    if (!e) throw new CoreError('plan-problem-unknown', `No planning problem '${id.slice(0, 12)}…' is registered (this core keeps the ${PROBLEM_REGISTRY_SIZE} most recently used, and forgets them when it restarts). Register it again with plan.register.`, { problemId: id });
    return touch(registered, id, e, PROBLEM_REGISTRY_SIZE);
  };
  const explore = (problem: PlanningProblem, explorer: ProblemExplorer, a: { objective?: Objective; constraints?: Constraints; points: number; sweep?: 'full' | 'coarse' }) => {
    const req = { objective: a.objective ?? problem.objective, constraints: a.constraints ?? problem.constraints, points: a.points, sweep: a.sweep };
    return { ...explorer.explore(req), req };
  };
  // plan.explore's lanes (e.g. a notebook cell): the controller of the latest request in each, until it is answered.
  const lanes = new Map<string, AbortController>();
  const supersede = (name: string): void => {
    lanes.get(name)?.abort(new CoreError('plan-superseded', `A newer request in lane '${name}' came before this one's front was swept; it was abandoned.`, { lane: name }));
    lanes.delete(name);
  };
  const exportsDir = o.exportsDir ?? (store.path === ':memory:' ? null : join(dirname(store.path), 'exports'));
  const runExport = async (a: ApiParsedArg<'plans.export'>, job: JobContext): Promise<ApiJobResult<'plans.export'>> => {
    if (!exportsDir) throw new CoreError('export-no-folder', 'This workbench keeps its database in memory, so it has no exports folder. Open a database file to export plans.');
    const m = store.requireModel(a.model);
    let plan = a.plan;
    let request = a.request;
    if (a.planId !== undefined) {
      const p = findPlan(store, a.planId);
      if (!p) throw new CoreError('plan-unknown', `No stored plan with id ${a.planId}. plans.list lists them.`);
      if (p.modelId !== m.id) throw new CoreError('plan-model-mismatch', `Plan ${a.planId} was made for '${store.findModel(p.modelId)?.name ?? `model #${p.modelId}`}', not '${m.name}'. Export it with that model.`);
      plan = p.plan as typeof plan;
      request = p.request as typeof request;
      if (!request?.device || !request.link) throw new CoreError('plan-invalid', `Plan ${a.planId} was stored without the device and link it was chosen for, so its costs cannot be predicted. Store it again with plans.save.`);
    }
    if (!plan || !request) throw new Error('plans.export: the contract admits a plan and a request, or a stored plan id');
    const name = a.name ?? `${m.name.replace(/[^A-Za-z0-9._-]/g, '_')}-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
    if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/.test(name)) throw new CoreError('export-name-invalid', `'${name}' is not a plain folder name. Use letters, digits, '.', '_' and '-'.`);
    let outDir = join(exportsDir, name);
    if (existsSync(outDir)) {
      if (a.name !== undefined) throw new CoreError('export-exists', `An export named '${name}' exists already in '${exportsDir}'. Choose another name.`);
      let n = 2;
      while (existsSync(`${outDir}-${n}`)) n++;
      outDir = `${outDir}-${n}`;
    }
    job.progress('problem', 0, 1);
    const objective = request.objective ?? { latency: 1, energy: 0, cost: 0 };
    const constraints = request.constraints ?? { maxDegradation: 1, enforceMemory: true, headCached: false };
    const problem = await buildPlanningProblem(store, { model: m.name, device: request.device, link: request.link, server: request.server, estimator: request.estimator, inputShape: a.inputShape, objective, constraints });
    const full = evaluatePlan(problem, plan.cut, plan.bits, plan.activationBits);
    job.signal.throwIfAborted();
    job.progress('problem', 1, 1);
    // Written under a temporary name and renamed when complete: a failed or cancelled export leaves nothing behind.
    mkdirSync(exportsDir, { recursive: true });
    const tmp = join(exportsDir, `.${name}.partial-${randomBytes(4).toString('hex')}`);
    try {
      const r = await exportPlan(store, m.name, full, {
        outDir: tmp,
        problem,
        format: a.format,
        calib: a.calib,
        inputShape: a.inputShape,
        request: request.objective && request.constraints ? { device: request.device, link: request.link, server: request.server ?? 'a100', objective, constraints: problem.constraints } : null,
        onProgress: (stage, d, t) => job.progress(stage, d, t),
        signal: job.signal,
        createdBy: 'partita workbench (plans.export)',
      });
      job.signal.throwIfAborted();
      try {
        renameSync(tmp, outDir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' || code === 'ENOTEMPTY') throw new CoreError('export-exists', `An export named '${outDir.slice(exportsDir.length + 1)}' appeared in '${exportsDir}' while this one was written. Export again.`);
        throw e;
      }
      return { outDir, name: outDir.slice(exportsDir.length + 1), files: Object.entries(r.files).map(([f, x]) => ({ name: f, ...x })), planFile: r.planFile };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  };
  const requireHub = (): AgentHub => {
    if (!o.hub) throw new CoreError('agent-hub-off', 'This workbench runs no agent hub, so no device agent can attach. Start it with `partita serve` (agents attach to the URL it prints).');
    return o.hub;
  };
  const handlers: ApiHandlers = {
    'models.list': () => ({ models: store.listModels() }),
    'models.import': async (a) => importModel(store, a.path, { name: a.name }),
    'uploads.begin': (a) => uploads.begin(a.fileName, a.bytes),
    'uploads.chunk': (a) => uploads.chunk(a.upload, a.offset, decodeChunk(a.data)),
    'uploads.cancel': (a) => ({ cancelled: uploads.discard(a.upload) }),
    'models.importUpload': (a) => uploads.take(a.upload, (path) => importModel(store, path, { name: a.name })),
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
    'sensitivity.get': (a) => {
      const run = store.newestEstimatorRun(store.requireModel(a.model).id, 'sensitivity');
      if (!run) return { sensitivity: null };
      const settings = run.settings as { dataset?: string; samples?: number };
      return { sensitivity: { table: run.result as never, dataset: String(settings.dataset ?? ''), samples: Number(settings.samples ?? 0), createdAt: run.createdAt } };
    },
    'devices.list': () => ({ devices: store.listDevices().map((d) => d.profile as DeviceProfile) }),
    'links.list': () => ({ links: store.listLinks() }),
    'plan.solve': (a) => solve(validateProblem(a.problem)),
    'plan.build': (a) => buildPlanningProblem(store, { ...a, model: String(a.model) }),
    'plan.pareto': (a) => {
      const problem = validateProblem(a.problem);
      return explore(problem, explorerFor(problem), a).front;
    },
    'plan.register': (a) => {
      if (a.lane !== undefined) supersede(a.lane);
      const problem = a.problem !== undefined ? validateProblem(a.problem) : patchProblem(registeredProblem(a.baseId!).problem, a.patch);
      const id = createHash('sha256').update(JSON.stringify(problem)).digest('hex');
      touch(registered, id, registered.get(id) ?? { problem, explorer: explorerFor(problem) }, PROBLEM_REGISTRY_SIZE);
      return { problemId: id, layers: problem.layers.length };
    },
    'plan.explore': async (a) => {
      const { problem, explorer } = a.problemId !== undefined ? registeredProblem(a.problemId) : ((p) => ({ problem: p, explorer: explorerFor(p) }))(validateProblem(a.problem));
      const req = { objective: a.objective ?? problem.objective, constraints: a.constraints ?? problem.constraints, points: a.points, sweep: a.sweep };
      // A newer request in the same lane abandons this one's sweep, if it is still running.
      let lane: AbortController | undefined;
      if (a.lane !== undefined) {
        supersede(a.lane);
        lane = new AbortController();
        lanes.set(a.lane, lane);
      }
      let front, solve;
      try {
        ({ front, solve } = a.sweep === 'coarse' ? explorer.explore(req) : await explorer.exploreSliced(req, lane?.signal));
      } finally {
        if (a.lane !== undefined && lanes.get(a.lane) === lane) lanes.delete(a.lane);
      }
      if (a.baselines === 'fixed' && !explorer.baselinesKnown(req)) return { front, solve, baselines: explorer.baselines(req, { fixedOnly: true }), baselinesPending: ['bits-only' as const] };
      return { front, solve, baselines: explorer.baselines(req) };
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
    'notebooks.duplicate': (a) => ({ notebook: store.getNotebook(duplicateNotebook(store, a.id, a.name).id) as never }),
    'notebooks.delete': (a) => ({ deleted: store.deleteNotebook(a.id) }),
    'notebooks.save': (a) => ({ notebook: store.saveNotebook({ id: a.notebook.id ?? randomUUID().slice(0, 8), name: a.notebook.name, cells: a.notebook.cells }) as never }),
    'agents.list': () => ({ hubUrl: o.hub?.url ?? null, agents: o.hub?.agents() ?? [] }),
    'agents.tokens': () => ({ tokens: listPairingTokens(store) }),
    'agents.pair': (a) => {
      const hub = requireHub();
      return { ...hub.createPairingToken(a.label), hubUrl: hub.url };
    },
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
    'plans.export': (a, ctx) => jobs.start(ctx, 'plans.export', (job) => runExport(a, job)),
    'runs.list': (a) => ({ runs: listPlanRuns(store, a.model === undefined ? {} : { modelId: store.requireModel(a.model).id }) }),
  };
  return {
    handlers,
    jobs,
    close: () => {
      uploads.close();
      ro.close();
    },
  };
}
