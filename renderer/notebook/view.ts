/**
 * The notebook view: one article per cell (input, status, output, error box), wired to the reactive CellGraph.
 * What a cell computes lives in core/notebook (shared with `partita notebook run`); this file shows it. Cell kinds:
 * - markdown: prose (click "edit" to change it);
 * - settings: JSON in Monaco, checked as you type; an invalid edit shows in place and the cells reading it keep
 *   their last good result;
 * - query: read-only SQL (`-- reads: cell` binds `@name` to that cell's field `name`) shown as a table;
 * - plot: Observable Plot code run in a sandboxed worker (`// reads: cell` puts that cell's value in `data`);
 * - run: a view over the core, JSON: `{"view": "pareto", "settings": "<settings cell>"}`,
 *   `{"view": "model", "plan": "<pareto cell>"}`, `{"view": "run", "plan": "<pareto cell>", "requests": 200,
 *   "eval": "<dataset>", "agent": null}` (runs the selected plan: Run, progress, Cancel, predicted vs measured),
 *   `{"view": "runs"}` (stored runs against their predictions) or `{"view": "devices"}` (profiles, agents, pairing).
 *   The run and devices views keep state (a run in progress, a token just made, polling) in a panel that lives as
 *   long as the cell shows that view.
 * Every edit is saved (debounced) with notebooks.save.
 */
import type { ApiClient } from '../../core/rpc/client.js';
import type { NotebookCell, SavedNotebook } from '../../core/api/contract.js';
import type { Plan } from '../../core/api/planning.js';
import { CellEvaluator, parseRun, readsOf, type RunsValue } from '../../core/notebook/cells.js';
import { CellGraph, type CellState } from '../../core/notebook/graph.js';
import type { ParetoValue, PlanningCache } from '../../core/notebook/planning.js';
import { loadSettingsNames, settingsJsonSchema, type SettingsNames } from '../../core/notebook/settings.js';
import { clear, errorBox, h } from '../dom.js';
import { runPlotCode, sanitizeMarkup } from '../plot/plotSandbox.js';
import { DevicesPanel } from '../views/devices.js';
import { ExportPanel } from '../views/exportPanel.js';
import { renderModel } from '../views/model.js';
import { renderPareto } from '../views/pareto.js';
import { RunPanel, type CellPanel } from '../views/run.js';
import { renderRuns } from '../views/runs.js';
import { SensitivityPanel } from '../views/sensitivity.js';
import { renderMarkdown } from './markdown.js';
import { createSettingsEditor, setSettingsSchema, type SettingsEditor } from './settingsEditor.js';

type Kind = NotebookCell['kind'];

/** Quiet time after a coarse Pareto answer before the full sweep is asked for. */
const REFINE_AFTER_MS = 150;

interface CellView {
  cell: NotebookCell;
  article: HTMLElement;
  output: HTMLElement;
  status: HTMLElement;
  editor?: SettingsEditor;
  /** The stateful view of a run or devices cell, and which view it is (replaced when the source names another). */
  panel?: { view: 'run' | 'devices'; panel: CellPanel };
  /** The export controls of a Pareto cell (kept across edits, so an export in progress goes on). */
  exportPanel?: ExportPanel;
  /** The sensitivity controls of a model cell (kept across re-renders, so a measurement in progress goes on). */
  sensitivityPanel?: SensitivityPanel;
}

/**
 * Live-latency bookkeeping: a settings edit marks its start; the next paint of a view that reads it ends it (a
 * sample, coarse front or not: `refining` says which). When that paint showed a coarse front, the paint of the full
 * one ends a `refined` sample measured from the same edit.
 */
interface LiveProbe {
  pending: { name: string; settings: string } | null;
  seq: number;
  samples: { ms: number; at: string; refining: boolean; coarse: boolean }[];
  refined: { ms: number; at: string; plans: number }[];
  /** Refinements asked of the core and not answered yet (a full sweep may be running for them). */
  refining: number;
}

declare global {
  interface Window {
    __partita?: { view: NotebookView; live: LiveProbe };
  }
}

export class NotebookView {
  readonly graph = new CellGraph();
  private evaluator: CellEvaluator;
  readonly element = h('div', { class: 'notebook' });
  readonly live: LiveProbe = { pending: null, seq: 0, samples: [], refined: [], refining: 0 };
  /** The edit mark a coarse Pareto value answered (its refined paint is measured from it). */
  private refineMarks = new WeakMap<ParetoValue, string>();
  private views = new Map<string, CellView>();
  private notebook: { id?: string; name: string; cells: NotebookCell[] } = { name: 'Untitled', cells: [] };
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  private saveStatus = h('span', { id: 'save-status', 'data-state': 'saved' }, 'saved');
  private nameInput = h('input', { class: 'notebook-name', 'aria-label': 'notebook name' });
  private cellsEl = h('div', { class: 'cells' });
  /** The notebook's title row (name, save state); the notebook bar adds its controls here. */
  readonly head = h('div', { class: 'notebook-head' });
  /** Called after every successful save (the notebook bar refreshes its list: a rename shows there). */
  onSaved: (() => void) | null = null;

  constructor(
    private api: ApiClient,
    private names: SettingsNames,
  ) {
    this.evaluator = new CellEvaluator(api, {
      names: () => this.names,
      plot: async (code, inputs, signal) => ({ svg: await runPlotCode(code, inputs, { signal, timeoutMs: 3000 }) }),
      progressive: true,
    });
    setSettingsSchema(settingsJsonSchema(names));
    const addBar = h('div', { class: 'add-bar' }, 'Add cell: ');
    for (const kind of ['markdown', 'settings', 'query', 'plot', 'run'] as Kind[]) {
      const b = h('button', { type: 'button', 'data-add': kind }, kind);
      b.addEventListener('click', () => void this.addCell(kind));
      addBar.append(b, ' ');
    }
    // The views, one click each: a run cell wired to the notebook's last settings cell or Pareto view.
    const viewBar = h('div', { class: 'add-bar view-bar' }, 'Add view: ');
    for (const [view, label] of [
      ['pareto', 'Pareto front'],
      ['model', 'Model'],
      ['run', 'Run'],
      ['runs', 'Predicted vs measured'],
      ['devices', 'Devices'],
    ] as const) {
      const b = h('button', { type: 'button', 'data-add-view': view }, label);
      b.addEventListener('click', () => void this.addView(view));
      viewBar.append(b, ' ');
    }
    this.nameInput.addEventListener('input', () => {
      this.notebook.name = this.nameInput.value.trim() || 'Untitled';
      this.scheduleSave();
    });
    this.head.append(this.nameInput, ' ', this.saveStatus);
    this.element.append(this.head, this.cellsEl, addBar, viewBar);
    this.graph.onChange((id, state) => this.renderState(id, state));
    window.__partita = { view: this, live: this.live };
  }

  /** The planning problems built so far (cleared after an import or a new sensitivity run). */
  get cache(): PlanningCache {
    return this.evaluator.cache;
  }

  get id(): string | undefined {
    return this.notebook.id;
  }

  /** The notebook as it is now, edits not yet saved included (what "Export file" writes). */
  current(): { id?: string; name: string; cells: NotebookCell[] } {
    return { id: this.notebook.id, name: this.notebook.name, cells: this.notebook.cells.map((c) => ({ ...c })) };
  }

  setNames(names: SettingsNames): void {
    this.names = names;
    setSettingsSchema(settingsJsonSchema(names));
  }

  async open(nb: SavedNotebook | { id?: string; name: string; cells: NotebookCell[] }): Promise<void> {
    // An edit still waiting for its debounced save belongs to the notebook being closed: save it first.
    if (this.saveTimer) await this.save();
    for (const v of this.views.values()) {
      v.editor?.dispose();
      v.panel?.panel.dispose();
      v.exportPanel?.dispose();
      v.sensitivityPanel?.dispose();
    }
    this.views.clear();
    for (const id of [...this.graphIds()]) this.graph.remove(id);
    clear(this.cellsEl);
    this.notebook = { id: nb.id, name: nb.name, cells: nb.cells.map((c) => ({ id: c.id, kind: c.kind, source: c.source })) };
    this.nameInput.value = nb.name;
    for (const c of this.notebook.cells) this.mountCell(c);
    await this.graph.evaluateAll();
  }

  private graphIds(): string[] {
    return this.notebook.cells.map((c) => c.id);
  }

  /** Saves now (also called by the debounced autosave). */
  async save(): Promise<void> {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    this.setSaveState('saving');
    try {
      const r = await this.api['notebooks.save']({ notebook: { ...(this.notebook.id ? { id: this.notebook.id } : {}), name: this.notebook.name, cells: this.notebook.cells } });
      this.notebook.id = r.notebook.id;
      localStorage.setItem('partita.notebook', r.notebook.id);
      this.setSaveState(this.saveTimer ? 'dirty' : 'saved');
      this.onSaved?.();
    } catch (e) {
      this.setSaveState('error', (e as Error).message);
    }
  }

  private setSaveState(state: 'saved' | 'saving' | 'dirty' | 'error', message?: string): void {
    this.saveStatus.dataset.state = state;
    this.saveStatus.textContent = state === 'error' ? `not saved: ${message}` : state === 'dirty' ? 'edited' : state;
  }

  private scheduleSave(): void {
    this.setSaveState('dirty');
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => void this.save(), 400);
  }

  /** Appends a cell (the "Add cell" buttons; tests and scripts may pass the source and id). Returns its id. */
  addCell(kind: Kind, source?: string, id?: string): string {
    const taken = new Set(this.notebook.cells.map((c) => c.id));
    let n = this.notebook.cells.length + 1;
    while (taken.has(`${kind}${n}`)) n++;
    if (id && taken.has(id)) throw new Error(`A cell "${id}" exists already.`);
    const templates: Record<Kind, string> = {
      markdown: 'Write notes here.',
      settings: '{\n  "model": "",\n  "device": "",\n  "link": "",\n  "estimator": "none",\n  "objective": { "latency": 1, "energy": 0, "cost": 0 },\n  "constraints": { "maxDegradation": 0.01 }\n}',
      query: 'SELECT name, layer_count, param_count FROM models ORDER BY id',
      plot: '// reads: \nreturn Plot.plot({ marks: [Plot.frame()] });',
      run: '{ "view": "pareto", "settings": "" }',
    };
    const cell: NotebookCell = { id: id ?? `${kind}${n}`, kind, source: source ?? templates[kind] };
    this.notebook.cells.push(cell);
    this.mountCell(cell);
    void this.graph.evaluate(cell.id);
    this.scheduleSave();
    return cell.id;
  }

  /**
   * Adds a view cell. The Pareto view reads the last settings cell, the model and run views the last Pareto view;
   * without one, they name what is missing in place (the cell's error says which cell to add).
   */
  addView(view: 'pareto' | 'model' | 'run' | 'runs' | 'devices'): string {
    const last = (pred: (c: NotebookCell) => boolean) => [...this.notebook.cells].reverse().find(pred)?.id ?? '';
    const lastPareto = () => last((c) => c.kind === 'run' && viewOf(c) === 'pareto');
    const spec: Record<typeof view, object> = {
      pareto: { view: 'pareto', settings: last((c) => c.kind === 'settings') },
      model: { view: 'model', plan: lastPareto() },
      run: { view: 'run', plan: lastPareto(), requests: 200, eval: 'fashion-mnist-test', agent: null },
      runs: { view: 'runs' },
      devices: { view: 'devices' },
    };
    return this.addCell('run', JSON.stringify(spec[view]));
  }

  /** The Monaco-backed editor of a settings cell (for scripting and tests: edits go through the editor's model). */
  settingsEditor(id: string): SettingsEditor | undefined {
    return this.views.get(id)?.editor;
  }

  private removeCell(id: string): void {
    const v = this.views.get(id);
    v?.editor?.dispose();
    v?.panel?.panel.dispose();
    v?.exportPanel?.dispose();
    v?.sensitivityPanel?.dispose();
    v?.article.remove();
    this.views.delete(id);
    this.notebook.cells = this.notebook.cells.filter((c) => c.id !== id);
    this.graph.remove(id);
    this.scheduleSave();
  }

  /** The source of a cell changed (typing, slider): store, save, re-evaluate. */
  private edit(cell: NotebookCell, source: string): void {
    cell.source = source;
    this.define(cell);
    this.scheduleSave();
    if (cell.kind === 'settings') {
      const name = `partita:edit:${++this.live.seq}`;
      performance.mark(name);
      this.live.pending = { name, settings: cell.id };
    }
    void this.graph.evaluate(cell.id);
  }

  private mountCell(cell: NotebookCell): void {
    const status = h('span', { class: 'cell-status' });
    const output = h('div', { class: 'cell-output' });
    const del = h('button', { type: 'button', class: 'cell-delete', title: 'delete cell' }, '✕');
    del.addEventListener('click', () => this.removeCell(cell.id));
    const article = h('article', { class: `cell cell-${cell.kind}`, 'data-cell-id': cell.id, 'data-kind': cell.kind }, h('div', { class: 'cell-head' }, h('code', {}, cell.id), ` · ${cell.kind} `, status, del));
    const view: CellView = { cell, article, output, status };
    this.views.set(cell.id, view);
    article.append(this.inputFor(cell, view), output);
    this.cellsEl.append(article);
    this.define(cell);
  }

  private inputFor(cell: NotebookCell, view: CellView): HTMLElement {
    if (cell.kind === 'settings') {
      view.editor = createSettingsEditor(cell.id, cell.source, (text) => this.edit(cell, text));
      return view.editor.element;
    }
    const ta = h('textarea', { class: 'cell-source', spellcheck: 'false', rows: Math.min(14, cell.source.split('\n').length + 1) });
    ta.value = cell.source;
    let timer: ReturnType<typeof setTimeout> | null = null;
    ta.addEventListener('input', () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => this.edit(cell, ta.value), 250);
    });
    if (cell.kind === 'markdown' || cell.kind === 'run') {
      const toggle = h('button', { type: 'button', class: 'cell-edit' }, 'edit');
      const wrap = h('div', { class: 'cell-input collapsed' }, toggle, ta);
      toggle.addEventListener('click', () => wrap.classList.toggle('collapsed'));
      return wrap;
    }
    return h('div', { class: 'cell-input' }, ta);
  }

  private define(cell: NotebookCell): void {
    this.graph.define({
      id: cell.id,
      reads: readsOf(cell),
      keepLast: cell.kind === 'settings',
      evaluate: (inputs, signal) => this.evaluator.evaluate(cell, inputs, signal),
    });
  }

  private renderState(id: string, state: CellState): void {
    const v = this.views.get(id);
    if (!v) return;
    v.article.dataset.status = state.status;
    const status = state.status === 'running' ? 'running…' : state.status === 'error' ? 'error' : '';
    // Unchanged text is left alone: every DOM change makes the next frame lay the page out again.
    if (v.status.textContent !== status) v.status.textContent = status;
    if (state.status === 'running' || state.status === 'idle') return;
    if (state.status === 'error') {
      if (v.cell.kind === 'settings') {
        // The cells reading these settings keep their last good result; the error shows here.
        v.output.querySelector('.error')?.remove();
        v.output.append(errorBox(state.error));
        v.article.dataset.invalid = 'true';
        this.live.pending = null;
      } else {
        // The last result stays (dimmed) under the error, so a failed re-plan does not blank the view.
        v.output.querySelector(':scope > .error')?.remove();
        v.output.dataset.stale = 'true';
        v.output.prepend(errorBox(state.error));
      }
      return;
    }
    delete v.article.dataset.invalid;
    delete v.output.dataset.stale;
    // A run cell's view clears what it replaces itself (the Pareto view keeps its chart between renders).
    if (v.cell.kind === 'run') v.output.querySelector(':scope > .error')?.remove();
    else clear(v.output);
    const value = state.value;
    switch (v.cell.kind) {
      case 'markdown':
        v.output.append(renderMarkdown(v.cell.source));
        break;
      case 'settings':
        break;
      case 'query':
        v.output.append(queryTable(value as { columns: string[]; rows: unknown[][]; truncated: boolean }));
        break;
      case 'plot':
        v.output.append(h('div', { class: 'plot-output' }, sanitizeMarkup((value as { svg: string }).svg)));
        break;
      case 'run':
        this.renderRun(v, value);
        break;
    }
  }

  private renderRun(v: CellView, value: unknown): void {
    const spec = parseRun(v.cell.source);
    if (v.panel && v.panel.view !== spec.view) {
      v.panel.panel.dispose();
      v.panel = undefined;
    }
    if (spec.view !== 'pareto' && v.exportPanel) {
      v.exportPanel.dispose();
      v.exportPanel = undefined;
    }
    if (spec.view !== 'model' && v.sensitivityPanel) {
      v.sensitivityPanel.dispose();
      v.sensitivityPanel = undefined;
    }
    if (spec.view === 'pareto') {
      const pv = value as ParetoValue;
      v.exportPanel ??= new ExportPanel(this.api);
      v.exportPanel.update(pv);
      renderPareto(
        v.output,
        { ...pv, budget: pv.settings.constraints.maxDegradation },
        (plan: Plan) => void this.graph.publish(v.cell.id, { ...pv, selected: plan, selectedBy: 'click' } satisfies ParetoValue),
        v.exportPanel.element,
      );
      if (pv.refining) v.output.dataset.refining = 'true';
      else delete v.output.dataset.refining;
      const pending = this.live.pending;
      if (pending && pending.settings === spec.settings) {
        this.live.pending = null;
        if (pv.refining) this.refineMarks.set(pv, pending.name);
        requestAnimationFrame(() => {
          const end = `${pending.name}:paint`;
          performance.mark(end);
          const m = performance.measure(`partita:edit-to-paint:${pending.name.split(':').pop()}`, pending.name, end);
          this.live.samples.push({ ms: m.duration, at: new Date().toISOString(), refining: pv.refining, coarse: pv.coarse });
          v.article.dataset.paints = String(this.live.samples.length);
        });
      }
      if (pv.refining) this.scheduleRefine(v, pv);
      return;
    }
    clear(v.output);
    if (spec.view === 'model') {
      const mv = value as Parameters<typeof renderModel>[1];
      v.sensitivityPanel ??= new SensitivityPanel(this.api, () => this.measurementsChanged());
      v.sensitivityPanel.update(mv);
      renderModel(v.output, mv, v.sensitivityPanel.element);
    } else if (spec.view === 'runs') {
      renderRuns(v.output, value as RunsValue);
    } else {
      v.output.append(this.panelFor(v, spec.view).element);
      v.panel!.panel.update(value);
    }
  }

  /**
   * Asks for the full front of a coarse Pareto value and shows it, unless the cell has moved on meanwhile (another
   * edit: its own coarse answer refines itself). The request waits a moment of quiet first, so typing does not start
   * a sweep per keystroke; the core sweeps in slices and abandons the cell's sweep when its next request comes (the
   * refine then fails with plan-superseded, and the coarse front stays until the next one).
   */
  private scheduleRefine(v: CellView, pv: ParetoValue): void {
    const id = v.cell.id;
    const current = () => (this.graph.state(id) as { value?: ParetoValue }).value;
    setTimeout(() => {
      if (current()?.front !== pv.front) return;
      this.live.refining++;
      const asked = this.evaluator.refinePareto(pv);
      void asked.finally(() => this.live.refining--).catch(() => undefined);
      asked.then(
        (full) => {
          const now = current();
          if (now?.front !== pv.front) return;
          // A plan clicked meanwhile stays selected.
          void this.graph.publish(id, { ...full, selected: now.selected, selectedBy: now.selectedBy } satisfies ParetoValue);
          const mark = this.refineMarks.get(pv);
          if (mark)
            requestAnimationFrame(() => {
              performance.mark(`${mark}:refined`);
              const m = performance.measure(`partita:edit-to-refined:${mark.split(':').pop()}`, mark, `${mark}:refined`);
              this.live.refined.push({ ms: m.duration, at: new Date().toISOString(), plans: full.front.plans.length });
            });
        },
        () => {
          // The coarse front stays (marked as such); the next edit asks again.
        },
      );
    }, REFINE_AFTER_MS);
  }

  private panelFor(v: CellView, view: 'run' | 'devices'): CellPanel {
    if (v.panel?.view === view) return v.panel.panel;
    v.panel?.panel.dispose();
    const panel = view === 'run' ? new RunPanel(this.api, () => this.refreshViews('runs')) : new DevicesPanel(this.api, () => void this.devicesChanged());
    v.panel = { view, panel };
    return panel;
  }

  /** Re-evaluates the cells showing a view (after a run was stored, the predicted-vs-measured views). */
  private refreshViews(view: 'runs' | 'devices' | 'pareto'): void {
    for (const c of this.notebook.cells) if (c.kind === 'run' && viewOf(c) === view) void this.graph.evaluate(c.id);
  }

  /** A sensitivity table was stored: problems built with the `sensitivity` estimator change, so re-plan every view. */
  private measurementsChanged(): void {
    this.evaluator.forgetMeasurements();
    this.refreshViews('pareto');
  }

    /** A device profile was saved: settings completion and checks learn its name, other devices views show it. */
  private async devicesChanged(): Promise<void> {
    try {
      this.setNames(await loadSettingsNames(this.api));
    } catch {
      // The names refresh again with the next import; the profile is saved either way.
    }
    this.refreshViews('devices');
  }
}

/** The view a run cell shows, or null while its source does not parse. */
function viewOf(c: NotebookCell): string | null {
  try {
    return parseRun(c.source).view;
  } catch {
    return null;
  }
}

function queryTable(r: { columns: string[]; rows: unknown[][]; truncated: boolean }): HTMLElement {
  const table = h(
    'table',
    { class: 'query-table' },
    h('thead', {}, h('tr', {}, ...r.columns.map((c) => h('th', {}, c)))),
    h('tbody', {}, ...r.rows.map((row) => h('tr', {}, ...row.map((c) => h('td', {}, c === null ? 'NULL' : String(c)))))),
  );
  return h('div', { class: 'query-output' }, table, h('p', { class: 'muted' }, `${r.rows.length} rows${r.truncated ? ' (truncated)' : ''}`));
}
