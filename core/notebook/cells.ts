/**
 * What each kind of cell computes, against any CoreApi (the renderer's RPC client, or the CLI's in-memory one):
 * - markdown: nothing (prose);
 * - settings: JSON, checked; settings meant for planning must name models, devices and links the store knows;
 * - query: read-only SQL (`-- reads: cell` binds `@name` to that cell's field `name`) through `store.query`;
 * - plot: Observable Plot code, run by a host-supplied runner (the UI's sandboxed worker);
 * - run: a view over the core, JSON:
 *   `{"view": "pareto", "settings": "<settings cell>"}` the front, the solver's plan and the baselines;
 *   `{"view": "model", "plan": "<pareto cell>"}` the layers with the selected plan's bits and cut;
 *   `{"view": "run", "plan": "<pareto cell>", "requests": 200, "eval": "<dataset>", "agent": null}` the selected
 *   plan as a run of the real partitions (started from the workbench's Run button, or headless with executeRuns);
 *   `{"view": "runs"}` every stored run against its prediction; `{"view": "devices"}` device profiles, agents, tokens.
 */
import { z } from 'zod';
import type { AgentInfoView, ApiResult, CoreApi, DeviceProfileView, Layer, NotebookCell, PairingTokenView, PlanRunResultView, PlanRunView } from '../api/contract.js';
import type { Plan } from '../api/planning.js';
import type { ApiClient, RunJobOptions } from '../rpc/client.js';
import { declaredReads } from './graph.js';
import { evaluatePareto, PlanningCache, type ParetoValue } from './planning.js';
import { checkPlanSettings, parseSettings, type SettingsNames } from './settings.js';

/** The calls cells make. */
export type NotebookApi = Pick<CoreApi, 'plan.build' | 'plan.register' | 'plan.explore' | 'store.query' | 'models.layers' | 'models.list' | 'runs.list' | 'devices.list' | 'agents.list' | 'agents.tokens' | 'sensitivity.get'>;

/** The calls a run of a plan makes (a client that can follow jobs). */
export type PlanRunApi = Pick<CoreApi, 'plans.save'> & Pick<ApiClient, 'runJob'>;

const cellId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a cell id');

const RunViewSchema = z.strictObject({
  view: z.literal('run'),
  /** The Pareto cell whose selected plan runs. */
  plan: cellId,
  requests: z.number().int().positive().max(1_000_000).default(100),
  /** A labelled dataset: the requests are its samples (from `offset`) and top-1 is measured; null = seeded random inputs. */
  eval: z.string().min(1).max(200).nullable().default(null),
  offset: z.number().int().nonnegative().optional(),
  /** An attached agent runs the head; null = a device worker on this machine. */
  agent: z.string().min(1).max(100).nullable().default(null),
  /** Device runs request i+1 while the server runs request i. */
  pipelined: z.boolean().default(false),
});

const RunsViewSchema = z.strictObject({ view: z.literal('runs'), model: z.string().min(1).max(200).optional() });
const DevicesViewSchema = z.strictObject({ view: z.literal('devices') });

export type RunSpec =
  | { view: 'pareto'; settings: string; points?: number }
  | { view: 'model'; plan: string }
  | z.output<typeof RunViewSchema>
  | z.output<typeof RunsViewSchema>
  | z.output<typeof DevicesViewSchema>;

/** The value of a query cell: the table, plus the rows as objects (what a plot cell reading it wants). */
export interface QueryValue {
  columns: string[];
  rows: (string | number | boolean | null)[][];
  truncated: boolean;
  objects: Record<string, string | number | boolean | null>[];
}

/** The value of a `{"view": "model"}` run cell. */
export interface ModelValue {
  model: string | null;
  /** The planning layers (names in order). */
  layerNames: string[];
  layers: Layer[] | null;
  plan: Plan | null;
  /** The model's newest measured sensitivity (the heat map); null when none was measured or the problem is inline. */
  sensitivity: StoredSensitivity | null;
}

export type StoredSensitivity = NonNullable<ApiResult<'sensitivity.get'>['sensitivity']>;

/** Runs a plot cell's code on the values it reads; resolves with what the cell shows (the UI: `{ svg }`). */
export type PlotRunner = (code: string, inputs: Record<string, unknown>, signal: AbortSignal) => Promise<unknown>;

const VIEWS =
  '{"view": "pareto", "settings": "<settings cell id>"}, {"view": "model", "plan": "<pareto cell id>"}, {"view": "run", "plan": "<pareto cell id>", "requests": 100, "eval": null, "agent": null}, {"view": "runs"} or {"view": "devices"}';

export function parseRun(source: string): RunSpec {
  let spec: unknown;
  try {
    spec = JSON.parse(source);
  } catch (e) {
    throw new Error(`A run cell is JSON, e.g. {"view": "pareto", "settings": "plan"} (${(e as Error).message}).`);
  }
  const s = spec as { view?: unknown; settings?: unknown; plan?: unknown; points?: unknown };
  if (s?.view === 'pareto' && typeof s.settings === 'string') return s as RunSpec;
  if (s?.view === 'model' && typeof s.plan === 'string') return s as RunSpec;
  const schema = s?.view === 'run' ? RunViewSchema : s?.view === 'runs' ? RunsViewSchema : s?.view === 'devices' ? DevicesViewSchema : null;
  if (!schema) throw new Error(`A run cell names a view: ${VIEWS}.`);
  const r = schema.safeParse(spec);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue.path.length ? `"${issue.path.join('.')}"` : 'the top level';
  throw new Error(`Invalid "${s.view}" run cell at ${where}: ${issue.message.replace(/\.$/, '')}. E.g. ${s.view === 'run' ? '{"view": "run", "plan": "front", "requests": 200, "eval": "fashion-mnist-test", "agent": null}' : `{"view": "${s.view}"}`}.`);
}

/** The ids of the cells a cell reads (its dependencies). */
export function readsOf(cell: NotebookCell): string[] {
  switch (cell.kind) {
    case 'query':
    case 'plot':
      return declaredReads(cell.source);
    case 'run':
      try {
        const s = parseRun(cell.source);
        if (s.view === 'pareto') return [s.settings];
        if (s.view === 'model' || s.view === 'run') return [s.plan];
        return [];
      } catch {
        return [];
      }
    default:
      return [];
  }
}

export interface CellEvaluatorOptions {
  /** The store's names (read at each evaluation, so an import is seen at once); empty lists skip the check. */
  names: () => SettingsNames;
  plot: PlotRunner;
  /**
   * Run cells (`"view": "run"`) start their run when evaluated, through this client (headless reproduction). The
   * workbench leaves it out: a run takes seconds to minutes and must not restart on every edit, so there the
   * cell's Run button starts it (executePlanRun).
   */
  executeRuns?: PlanRunApi;
  /**
   * Pareto cells answer a problem not swept before with a coarse front first (ParetoValue.refining), and the caller
   * asks refinePareto for the full one (the workbench's live view). Headless runs leave it out: one full answer.
   */
  progressive?: boolean;
}

/** Evaluates cells; keeps the planning problems and layer tables it fetched, so an edit costs only the solves. */
export class CellEvaluator {
  readonly cache: PlanningCache;
  private layersCache = new Map<string, Promise<Layer[]>>();
  private sensitivityCache = new Map<string, Promise<StoredSensitivity | null>>();
  /** What a refining Pareto value was computed from, so refinePareto can ask for the full front. */
  private refinable = new WeakMap<ParetoValue, { settings: unknown; points?: number; lane?: string }>();

  constructor(
    private api: NotebookApi,
    private o: CellEvaluatorOptions,
  ) {
    this.cache = new PlanningCache(api);
  }

  async evaluate(cell: NotebookCell, inputs: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    switch (cell.kind) {
      case 'markdown':
        return null;
      case 'settings':
        return this.settings(cell.source);
      case 'query':
        return this.query(cell.source, inputs);
      case 'plot':
        return this.o.plot(cell.source, inputs, signal);
      case 'run': {
        const spec = parseRun(cell.source);
        switch (spec.view) {
          case 'pareto':
          {
            const lane = this.o.progressive ? `cell:${cell.id}` : undefined;
            const pv = await evaluatePareto(this.api, this.cache, inputs[spec.settings], spec.points, { progressive: this.o.progressive, lane });
            if (pv.refining) this.refinable.set(pv, { settings: inputs[spec.settings], points: spec.points, lane });
            return pv;
          }
          case 'model': {
            const pv = paretoInput(inputs, spec.plan);
            const [layers, sensitivity] = pv.model ? await Promise.all([this.layers(pv.model), this.sensitivity(pv.model)]) : [null, null];
            return { model: pv.model, layerNames: pv.layerNames, layers, plan: pv.selected, sensitivity } satisfies ModelValue;
          }
          case 'run': {
            const request = planRunRequest(spec, paretoInput(inputs, spec.plan));
            const outcome = this.o.executeRuns ? await executePlanRun(this.o.executeRuns, request, { signal }) : null;
            return { view: 'run', request, outcome } satisfies RunCellValue;
          }
          case 'runs':
            return evaluateRuns(this.api, spec.model ?? null);
          case 'devices':
            return evaluateDevices(this.api);
        }
      }
    }
  }

  /** The full-resolution value of a `refining` Pareto value (the same plan and baselines, the full front). */
  async refinePareto(pv: ParetoValue): Promise<ParetoValue> {
    const from = this.refinable.get(pv);
    if (!from) throw new Error('refinePareto: the value is not a refining Pareto value of this evaluator.');
    return evaluatePareto(this.api, this.cache, from.settings, from.points, { lane: from.lane });
  }

  private settings(source: string): unknown {
    const v = parseSettings(source);
    if (v && typeof v === 'object' && ('constraints' in v || 'objective' in v)) {
      const s = checkPlanSettings(v);
      const names = this.o.names();
      // Names the store does not know are settings errors too, so a half-typed name keeps the last good plan.
      const known: [string | undefined, string[], string][] = [
        [s.model, names.models, 'model'],
        [s.device, names.devices, 'device'],
        [s.link, names.links, 'link'],
      ];
      for (const [name, list, what] of known) {
        if (!s.problem && name !== undefined && list.length && !list.includes(name)) throw new Error(`Unknown ${what} "${name}". Known: ${list.join(', ')}.`);
      }
    }
    return v;
  }

  private async query(sql: string, inputs: Record<string, unknown>): Promise<QueryValue> {
    const params: Record<string, string | number | boolean | null> = {};
    for (const m of sql.matchAll(/@([A-Za-z_]\w*)/g)) {
      const found = Object.values(inputs).find((v) => v && typeof v === 'object' && m[1] in (v as object));
      if (!found) throw new Error(`The query uses @${m[1]}, but no cell it reads has a field "${m[1]}". Add "-- reads: <settings cell>".`);
      const val = (found as Record<string, unknown>)[m[1]];
      params[m[1]] = typeof val === 'object' && val !== null ? JSON.stringify(val) : (val as string | number | boolean | null);
    }
    const r = await this.api['store.query']({ sql, ...(Object.keys(params).length ? { params } : {}), maxRows: 1000 });
    return { ...r, objects: r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]]))) };
  }

  private sensitivity(model: string): Promise<StoredSensitivity | null> {
    return kept(this.sensitivityCache, model, () => this.api['sensitivity.get']({ model }).then((r) => r.sensitivity));
  }

  /** Forget what depends on measurements (after a sensitivity run): the planning problems and the sensitivity tables. */
  forgetMeasurements(): void {
    this.cache.clear();
    this.sensitivityCache.clear();
  }

  private layers(model: string): Promise<Layer[]> {
    return kept(this.layersCache, model, () => this.api['models.layers']({ model }).then((r) => r.layers));
  }
}

/** The kept answer for `key`, or a new one from `fetch`, kept unless it fails (a failure is asked again next time). */
function kept<T>(cache: Map<string, Promise<T>>, key: string, fetch: () => Promise<T>): Promise<T> {
  let p = cache.get(key);
  if (!p) {
    p = fetch();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

/** The value of the Pareto cell a view reads, or an error that names it. */
function paretoInput(inputs: Record<string, unknown>, id: string): ParetoValue {
  const pv = inputs[id] as ParetoValue;
  if (!pv || !Array.isArray(pv.layerNames)) throw new Error(`Cell "${id}" is not a Pareto view.`);
  return pv;
}

// ---------------------------------------------------------------------------------------------------------------
// Runs of a plan: `{"view": "run", "plan": "<pareto cell>", …}`

/** The run a run cell would start: the Pareto cell's selected plan, on the device, link and server it was planned for. */
export interface PlanRunRequest {
  /** The Pareto cell the plan comes from. */
  source: string;
  model: string;
  device: string;
  link: string;
  server: string;
  estimator: 'sensitivity' | 'noise' | 'none' | null;
  objective: ParetoValue['settings']['objective'];
  constraints: ParetoValue['settings']['constraints'];
  plan: { cut: number; bits: number[]; activationBits: number | null };
  /** How the plan was chosen in the Pareto cell. */
  selectedBy: ParetoValue['selectedBy'];
  /** The planner's figures for it under the cell's settings (the run re-predicts with the head cached). */
  planned: { latencyMs: number; degradation: number };
  layerCount: number;
  requests: number;
  eval: string | null;
  offset?: number;
  agent: string | null;
  pipelined: boolean;
}

/** One row of the predicted-vs-measured table of a run. */
export interface StageRow {
  stage: 'device' | 'uplink' | 'server' | 'result' | 'end to end' | 'head download (once)';
  predictedMs: number | null;
  /** Median over the requests (the download happens once). */
  measuredMs: number | null;
  p90Ms: number | null;
  /** (measured - predicted) / measured, as runs.start reports it; null without both. */
  relativeError: number | null;
}

export interface PlanRunOutcome {
  /** The id plans.save gave the plan. */
  planId: number;
  result: PlanRunResultView;
  rows: StageRow[];
}

/** What a `{"view": "run"}` cell computes: the run it starts, and (headless with executeRuns) its outcome. */
export interface RunCellValue {
  view: 'run';
  request: PlanRunRequest;
  outcome: PlanRunOutcome | null;
}

export function planRunRequest(spec: z.output<typeof RunViewSchema>, pv: ParetoValue): PlanRunRequest {
  if (!pv.model) throw new Error(`Cell "${spec.plan}" plans an inline problem, which names no stored model to run. Plan a model by name ("model", "device", "link") to run its plans.`);
  const p = pv.selected;
  if (!p) throw new Error(`Cell "${spec.plan}" has no plan selected (no plan meets its constraints). Relax them, or click a point of the front.`);
  const s = pv.settings;
  return {
    source: spec.plan,
    model: pv.model,
    device: s.device!,
    link: s.link!,
    server: s.server ?? 'a100',
    estimator: s.estimator ?? null,
    objective: s.objective,
    constraints: s.constraints,
    plan: { cut: p.cut, bits: [...p.bits], activationBits: p.activationBits },
    selectedBy: pv.selectedBy,
    planned: { latencyMs: p.latencyMs, degradation: p.degradation },
    layerCount: pv.layerNames.length,
    requests: spec.requests,
    eval: spec.eval,
    ...(spec.offset !== undefined ? { offset: spec.offset } : {}),
    agent: spec.agent,
    pipelined: spec.pipelined,
  };
}

/** Identifies what a run runs (plan, profiles, requests, target): a result belongs to a request with the same key. */
export function planRunKey(r: PlanRunRequest): string {
  return JSON.stringify([r.model, r.device, r.link, r.server, r.plan, r.requests, r.eval, r.offset ?? null, r.agent, r.pipelined]);
}

/** Stores the plan (plans.save), runs it (runs.start, following its progress) and tabulates prediction against measurement. */
export async function executePlanRun(api: PlanRunApi, r: PlanRunRequest, o: RunJobOptions = {}): Promise<PlanRunOutcome> {
  const { id } = await api['plans.save']({
    model: r.model,
    request: { device: r.device, link: r.link, server: r.server, ...(r.estimator ? { estimator: r.estimator } : {}), objective: r.objective, constraints: r.constraints },
    plan: r.plan as never,
  });
  o.signal?.throwIfAborted();
  const result = await api.runJob(
    'runs.start',
    {
      model: r.model,
      plan: String(id),
      requests: r.requests,
      pipelined: r.pipelined,
      ...(r.eval ? { eval: r.eval } : {}),
      ...(r.offset !== undefined ? { offset: r.offset } : {}),
      ...(r.agent ? { agent: r.agent } : {}),
    },
    o,
  );
  return { planId: id, result, rows: stageRows(result) };
}

/** The predicted-vs-measured table of a run: one row per stage, then end to end, then the one-off head download. */
export function stageRows(r: PlanRunResultView): StageRow[] {
  const p = r.predicted;
  const m = r.measured;
  const e = r.relativeError;
  const rows: StageRow[] = [
    { stage: 'device', predictedMs: p?.breakdownMs.device ?? null, measuredMs: m.median.deviceMs, p90Ms: m.p90.deviceMs, relativeError: e?.deviceMs ?? null },
    { stage: 'uplink', predictedMs: p?.breakdownMs.uplink ?? null, measuredMs: m.median.uplinkMs, p90Ms: m.p90.uplinkMs, relativeError: e?.uplinkMs ?? null },
    { stage: 'server', predictedMs: p?.breakdownMs.server ?? null, measuredMs: m.median.serverMs, p90Ms: m.p90.serverMs, relativeError: e?.serverMs ?? null },
    { stage: 'result', predictedMs: p?.breakdownMs.result ?? null, measuredMs: m.median.downlinkMs, p90Ms: m.p90.downlinkMs, relativeError: e?.downlinkMs ?? null },
    { stage: 'end to end', predictedMs: p?.latencyMs ?? null, measuredMs: m.median.latencyMs, p90Ms: m.p90.latencyMs, relativeError: e?.latencyMs ?? null },
  ];
  if (p && p.downloadMs > 0) {
    const dl = m.download?.ms ?? null;
    rows.push({ stage: 'head download (once)', predictedMs: p.downloadMs, measuredMs: dl, p90Ms: null, relativeError: dl && dl > 0 ? (dl - p.downloadMs) / dl : null });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------------
// Stored runs against their predictions: `{"view": "runs"}`

/** One stored run as the predicted-vs-measured view plots it. */
export interface RunPoint {
  id: number;
  model: string;
  target: 'local' | 'agent';
  agentName: string | null;
  device: string;
  link: string;
  server: string;
  cut: number;
  bits: number[];
  activationBits: number | null;
  status: 'ok' | 'failed';
  error: string | null;
  requests: number;
  /** The planner's end-to-end latency per request (head cached); null when it could not predict. */
  predictedMs: number | null;
  /** Median measured end-to-end latency per request; null for a failed run. */
  measuredMs: number | null;
  measuredP90Ms: number | null;
  /** (measured - predicted) / measured. */
  relativeError: number | null;
  throughputRps: number | null;
  top1: number | null;
  createdAt: string;
}

export interface RunsValue {
  view: 'runs';
  /** The model the view is limited to, if any. */
  model: string | null;
  runs: RunPoint[];
  summary: RunsSummary;
}

export interface RunsSummary {
  ok: number;
  failed: number;
  /** Over the runs with both figures: median and worst |relative error| of the end-to-end latency. */
  medianAbsError: number | null;
  worstAbsError: number | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function runPoints(runs: PlanRunView[], modelNames: Map<number, string>): RunPoint[] {
  return runs.map((r) => {
    const predicted = num(r.predicted?.latencyMs);
    const median = (r.measured?.median ?? null) as Record<string, unknown> | null;
    const p90 = (r.measured?.p90 ?? null) as Record<string, unknown> | null;
    const measured = num(median?.latencyMs);
    return {
      id: r.id,
      model: modelNames.get(r.modelId) ?? `#${r.modelId}`,
      target: r.target,
      agentName: r.agentName,
      device: r.device,
      link: r.link,
      server: r.server,
      cut: r.cut,
      bits: r.plan.bits,
      activationBits: r.plan.activationBits,
      status: r.status,
      error: r.status === 'failed' ? `${r.errorCode ?? 'run-failed'}: ${r.errorMessage ?? ''}`.trim() : null,
      requests: r.requests,
      predictedMs: predicted,
      measuredMs: measured,
      measuredP90Ms: num(p90?.latencyMs),
      relativeError: predicted !== null && measured !== null && measured > 0 ? (measured - predicted) / measured : null,
      throughputRps: num(r.measured?.throughputRps),
      top1: r.top1,
      createdAt: r.createdAt,
    };
  });
}

export function runsSummary(points: RunPoint[]): RunsSummary {
  const errs = points
    .map((p) => p.relativeError)
    .filter((e): e is number => e !== null)
    .map(Math.abs)
    .sort((a, b) => a - b);
  const mid = errs.length ? (errs.length % 2 ? errs[(errs.length - 1) / 2] : (errs[errs.length / 2 - 1] + errs[errs.length / 2]) / 2) : null;
  return { ok: points.filter((p) => p.status === 'ok').length, failed: points.filter((p) => p.status === 'failed').length, medianAbsError: mid, worstAbsError: errs.length ? errs[errs.length - 1] : null };
}

export async function evaluateRuns(api: Pick<CoreApi, 'runs.list' | 'models.list'>, model: string | null): Promise<RunsValue> {
  const [{ runs }, { models }] = await Promise.all([api['runs.list'](model === null ? {} : { model }), api['models.list']()]);
  const points = runPoints(runs, new Map(models.map((m) => [m.id, m.name])));
  return { view: 'runs', model, runs: points, summary: runsSummary(points) };
}

// ---------------------------------------------------------------------------------------------------------------
// Devices: `{"view": "devices"}`

export interface DevicesValue {
  view: 'devices';
  /** Presets, measured and custom profiles (devices.list). */
  devices: DeviceProfileView[];
  /** Where agents attach; null when this core runs no hub (headless). */
  hubUrl: string | null;
  agents: AgentInfoView[];
  tokens: PairingTokenView[];
}

export async function evaluateDevices(api: Pick<CoreApi, 'devices.list' | 'agents.list' | 'agents.tokens'>): Promise<DevicesValue> {
  const [d, a, t] = await Promise.all([api['devices.list'](), api['agents.list'](), api['agents.tokens']()]);
  return { view: 'devices', devices: d.devices, hubUrl: a.hubUrl, agents: a.agents, tokens: t.tokens };
}

/** The command line that attaches a device with a fresh pairing token (shown once, when the token is made). */
export function agentCommand(hubUrl: string, token: string, name?: string): string {
  const safe = name?.replace(/[^A-Za-z0-9_.@:-]/g, '-').slice(0, 100);
  return `partita agent --server ${hubUrl} --token ${token}${safe ? ` --name ${safe}` : ''}`;
}
