/**
 * What each kind of cell computes, against any CoreApi (the renderer's RPC client, or the CLI's in-memory one):
 * - markdown: nothing (prose);
 * - settings: JSON, checked; settings meant for planning must name models, devices and links the store knows;
 * - query: read-only SQL (`-- reads: cell` binds `@name` to that cell's field `name`) through `store.query`;
 * - plot: Observable Plot code, run by a host-supplied runner (the UI's sandboxed worker);
 * - run: a view over the core, JSON: `{"view": "pareto", "settings": "<settings cell>"}` or
 *   `{"view": "model", "plan": "<pareto cell>"}`.
 */
import type { CoreApi, Layer, NotebookCell } from '../api/contract.js';
import type { Plan } from '../api/planning.js';
import { declaredReads } from './graph.js';
import { evaluatePareto, PlanningCache, type ParetoValue } from './planning.js';
import { checkPlanSettings, parseSettings, type SettingsNames } from './settings.js';

/** The calls cells make. */
export type NotebookApi = Pick<CoreApi, 'plan.build' | 'plan.explore' | 'store.query' | 'models.layers'>;

export interface RunSpec {
  view: 'pareto' | 'model';
  settings?: string;
  plan?: string;
  points?: number;
}

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
}

/** Runs a plot cell's code on the values it reads; resolves with what the cell shows (the UI: `{ svg }`). */
export type PlotRunner = (code: string, inputs: Record<string, unknown>, signal: AbortSignal) => Promise<unknown>;

export function parseRun(source: string): RunSpec {
  let spec: unknown;
  try {
    spec = JSON.parse(source);
  } catch (e) {
    throw new Error(`A run cell is JSON, e.g. {"view": "pareto", "settings": "plan"} (${(e as Error).message}).`);
  }
  const s = spec as RunSpec;
  if (s?.view === 'pareto' && typeof s.settings === 'string') return s;
  if (s?.view === 'model' && typeof s.plan === 'string') return s;
  throw new Error('A run cell names a view: {"view": "pareto", "settings": "<settings cell id>"} or {"view": "model", "plan": "<pareto cell id>"}.');
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
        return [s.view === 'pareto' ? s.settings! : s.plan!];
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
}

/** Evaluates cells; keeps the planning problems and layer tables it fetched, so an edit costs only the solves. */
export class CellEvaluator {
  readonly cache: PlanningCache;
  private layersCache = new Map<string, Promise<Layer[]>>();

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
        if (spec.view === 'pareto') return evaluatePareto(this.api, this.cache, inputs[spec.settings!], spec.points);
        const pv = inputs[spec.plan!] as ParetoValue;
        if (!pv || !Array.isArray(pv.layerNames)) throw new Error(`Cell "${spec.plan}" is not a Pareto view.`);
        const layers = pv.model ? await this.layers(pv.model) : null;
        return { model: pv.model, layerNames: pv.layerNames, layers, plan: pv.selected } satisfies ModelValue;
      }
    }
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

  private layers(model: string): Promise<Layer[]> {
    let p = this.layersCache.get(model);
    if (!p) {
      p = this.api['models.layers']({ model }).then((r) => r.layers);
      this.layersCache.set(model, p);
      p.catch(() => this.layersCache.delete(model));
    }
    return p;
  }
}
