/**
 * Evaluates a whole notebook once, without a UI: the same cell graph and cell evaluation as the workbench, driven
 * to the end, with one outcome per cell in document order. Plot cells need a runner (the UI's sandboxed worker,
 * the CLI's sandboxed plot process); without one they are skipped, and so are the cells that read them.
 */
import type { CoreApi, Notebook, NotebookCell } from '../api/contract.js';
import { isCoreError } from '../api/errors.js';
import { CellEvaluator, readsOf, type NotebookApi, type PlanRunApi, type PlotRunner } from './cells.js';
import { CellGraph, CellWaitingError } from './graph.js';
import { loadSettingsNames, type SettingsNames } from './settings.js';

export type CellOutcome =
  | { id: string; kind: NotebookCell['kind']; status: 'ok'; ms: number; value: unknown }
  | { id: string; kind: NotebookCell['kind']; status: 'skipped'; reason: string }
  | { id: string; kind: NotebookCell['kind']; status: 'error'; ms: number; error: { code?: string; message: string } };

/** Thrown by a cell that cannot run here (a plot cell without a plot runner); its outcome is `skipped`. */
export class CellSkipped extends Error {
  override readonly name = 'CellSkipped';
}

export const PLOT_SKIPPED = 'plot cells run Observable Plot code in the workbench’s sandboxed worker; open the notebook in the workbench (`partita start`) to draw it';

export interface RunNotebookOptions {
  /** The store's names for the settings check (default: asked through the api). */
  names?: SettingsNames;
  /** Runs plot cells; without it they are skipped. */
  plot?: PlotRunner;
  /**
   * Start the runs of run cells (`"view": "run"`) and wait for them; without it a run cell only says which run it
   * would start (the workbench starts it with its Run button).
   */
  executeRuns?: PlanRunApi;
  /** Called each time one more cell has settled (ok or error), with the count so far. */
  onProgress?: (settled: number, total: number, cellId: string) => void;
}

export async function runNotebook(api: NotebookApi & Pick<CoreApi, 'models.list' | 'devices.list' | 'links.list'>, nb: Pick<Notebook, 'cells'>, o: RunNotebookOptions = {}): Promise<CellOutcome[]> {
  const names = o.names ?? (await loadSettingsNames(api));
  const plot: PlotRunner =
    o.plot ??
    (() => {
      throw new CellSkipped(PLOT_SKIPPED);
    });
  const evaluator = new CellEvaluator(api, { names: () => names, plot, executeRuns: o.executeRuns });
  const graph = new CellGraph();
  const started = new Map<string, number>();
  const ms = new Map<string, number>();
  const settled = new Set<string>();
  const evaluated = nb.cells.filter((c) => c.kind !== 'markdown');
  graph.onChange((id, state) => {
    if (state.status === 'running') started.set(id, performance.now());
    if (state.status !== 'ok' && state.status !== 'error') return;
    ms.set(id, performance.now() - (started.get(id) ?? performance.now()));
    if (!settled.has(id) && evaluated.some((c) => c.id === id)) {
      settled.add(id);
      o.onProgress?.(settled.size, evaluated.length, id);
    }
  });
  for (const cell of nb.cells) {
    graph.define({ id: cell.id, reads: readsOf(cell), keepLast: cell.kind === 'settings', evaluate: (inputs, signal) => evaluator.evaluate(cell, inputs, signal) });
  }
  await graph.evaluateAll();

  const outcomes = new Map<string, CellOutcome>();
  const outcome = (cell: NotebookCell): CellOutcome => {
    const done = outcomes.get(cell.id);
    if (done) return done;
    const base = { id: cell.id, kind: cell.kind };
    let r: CellOutcome;
    const state = graph.state(cell.id);
    if (cell.kind === 'markdown') r = { ...base, status: 'skipped', reason: 'markdown, nothing to evaluate' };
    // Without a runner a plot cell is skipped whatever its inputs did: it could not have run here anyway.
    else if (cell.kind === 'plot' && !o.plot) r = { ...base, status: 'skipped', reason: PLOT_SKIPPED };
    else if (state.status === 'ok') r = { ...base, status: 'ok', ms: ms.get(cell.id) ?? 0, value: state.value };
    else if (state.status === 'error' && state.error instanceof CellSkipped) r = { ...base, status: 'skipped', reason: state.error.message };
    else if (state.status === 'error') {
      const waited = state.error instanceof CellWaitingError ? nb.cells.find((c) => c.id === (state.error as CellWaitingError).waitingFor) : undefined;
      const upstream = waited && outcome(waited);
      if (upstream?.status === 'skipped') r = { ...base, status: 'skipped', reason: `it reads cell "${upstream.id}", which is skipped` };
      else r = { ...base, status: 'error', ms: ms.get(cell.id) ?? 0, error: isCoreError(state.error) ? { code: state.error.code, message: state.error.message } : { message: state.error.message } };
    } else throw new Error(`Cell "${cell.id}" did not settle (state ${state.status}).`);
    outcomes.set(cell.id, r);
    return r;
  };
  return nb.cells.map(outcome);
}
