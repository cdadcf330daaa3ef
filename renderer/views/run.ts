/**
 * The run view (`{"view": "run", "plan": "<pareto cell>", …}`): the plan selected in a Pareto cell, run for real.
 * The cell's value (core/notebook/cells.ts) says which run it would start; the Run button stores the plan
 * (plans.save) and starts runs.start with a progress bar and a Cancel button (jobs.cancel), then shows the
 * planner's prediction against the measurement per stage. A run is never started by an edit: it takes seconds to
 * minutes, so the panel keeps its state (and its last result) across re-evaluations of the cell.
 */
import { JobRunner, progressView } from './jobRunner.js';
import { executePlanRun, planRunKey, type PlanRunOutcome, type PlanRunRequest, type RunCellValue } from '../../core/notebook/cells.js';
import type { ApiClient } from '../../core/rpc/client.js';
import { clear, errorBox, fmt, h, pct } from '../dom.js';

export interface CellPanel {
  readonly element: HTMLElement;
  update(value: unknown): void;
  dispose(): void;
}


/** What the plan is, in one line. */
export function describePlan(r: PlanRunRequest): string {
  const p = r.plan;
  const where = p.cut === 0 ? 'full offload (nothing on the device)' : p.cut === r.layerCount ? `all ${r.layerCount} layers on the device` : `cut after layer ${p.cut} of ${r.layerCount}`;
  const bits = p.cut === 0 ? '' : `, head bits ${compactBits(p.bits)}`;
  const acts = p.activationBits === null ? ', nothing sent' : `, activations ${p.activationBits} bit`;
  return `${where}${bits}${acts}`;
}

/** 8,8,8,4,4 -> 8×3 4×2 */
function compactBits(bits: number[]): string {
  const runs: [number, number][] = [];
  for (const b of bits) {
    const last = runs[runs.length - 1];
    if (last && last[0] === b) last[1]++;
    else runs.push([b, 1]);
  }
  return runs.map(([b, n]) => (n > 1 ? `${b}×${n}` : String(b))).join(' ');
}

export class RunPanel implements CellPanel {
  readonly element = h('div', { class: 'run-panel', 'data-state': 'idle' });
  private request: PlanRunRequest | null = null;
  private readonly job = new JobRunner(
    () => this.render(),
    () => this.renderProgress(),
  );
  private last: { key: string; request: PlanRunRequest; outcome: PlanRunOutcome } | null = null;
  private requestEl = h('p', { class: 'run-request' });
  private startBtn = h('button', { type: 'button', class: 'run-start' }, 'Run');
  private cancelBtn = h('button', { type: 'button', class: 'run-cancel', hidden: true }, 'Cancel');
  private progressEl = h('div', { class: 'run-progress', hidden: true });
  private messageEl = h('div', { class: 'run-message' });
  private resultEl = h('div', { class: 'run-result' });

  constructor(
    private api: ApiClient,
    /** Called after a run was stored (ok, failed or cancelled), so views of the stored runs refresh. */
    private onStored: () => void,
  ) {
    this.startBtn.addEventListener('click', () => void this.start());
    this.cancelBtn.addEventListener('click', () => this.job.cancel());
    this.element.append(this.requestEl, h('div', { class: 'run-controls' }, this.startBtn, ' ', this.cancelBtn, ' ', this.progressEl), this.messageEl, this.resultEl);
  }

  update(value: unknown): void {
    const v = value as RunCellValue;
    this.request = v.request;
    // Headless evaluation may carry an outcome already (executeRuns); the workbench's evaluator never does.
    if (v.outcome) this.last = { key: planRunKey(v.request), request: v.request, outcome: v.outcome };
    this.render();
  }

  dispose(): void {
    this.job.cancel();
  }

  private async start(): Promise<void> {
    if (!this.request) return;
    const request = this.request;
    const outcome = await this.job.run(({ signal, onProgress }) => executePlanRun(this.api, request, { signal, onProgress }));
    if (outcome) this.last = { key: planRunKey(request), request, outcome };
    this.render();
    this.onStored();
  }

  private render(): void {
    const r = this.request;
    this.element.dataset.state = this.job.state;
    clear(this.requestEl);
    if (r) {
      this.requestEl.append(
        h('strong', {}, 'Plan: '),
        describePlan(r),
        h('br'),
        `${r.model} on ${r.device} over ${r.link} (emulated), tail on ${r.server}; ${r.requests} requests ${r.eval ? `of ${r.eval}` : 'of seeded random inputs'}${r.pipelined ? ', pipelined' : ''}, head ${r.agent ? `on agent ${r.agent}` : 'in a device worker on this machine'}. `,
        h('span', { class: 'muted' }, `Planner: ${fmt(r.planned.latencyMs)} ms, degradation ${pct(r.planned.degradation)} (${r.selectedBy === 'click' ? 'the plan clicked' : "the solver's plan"} in cell "${r.source}").`),
      );
    }
    const running = this.job.running;
    this.startBtn.disabled = running || !r;
    this.startBtn.textContent = this.last || this.job.state === 'error' || this.job.state === 'cancelled' ? 'Run again' : 'Run';
    this.cancelBtn.hidden = !running;
    this.cancelBtn.disabled = false;
    this.progressEl.hidden = !running;
    this.renderProgress();
    clear(this.messageEl);
    if (this.job.state === 'error') this.messageEl.append(errorBox(this.job.error));
    if (this.job.state === 'cancelled') this.messageEl.append(h('p', { class: 'run-cancelled muted' }, 'Cancelled. The run is stored as failed (code cancelled); Run starts it again.'));
    clear(this.resultEl);
    if (this.last) this.resultEl.append(outcomeView(this.last.outcome, this.last.request, r !== null && this.last.key !== planRunKey(r)));
  }

  private renderProgress(): void {
    if (this.job.state !== 'running') return;
    const p = this.job.progress;
    // Only the requests stage counts toward the bar; building reports no total.
    const text = p?.stage === 'requests' ? `request ${p.done} of ${p.total}` : p?.stage === 'build' ? 'building head and tail…' : 'storing the plan…';
    const [bar, label] = progressView(p?.stage === 'requests' ? p : null, 'run-bar', text, 'run-progress-text');
    label.dataset.stage = p?.stage ?? 'start';
    this.progressEl.replaceChildren(bar, ' ', label);
  }
}

/** The predicted-vs-measured table of one run, with throughput and top-1. */
export function outcomeView(o: PlanRunOutcome, r: PlanRunRequest, otherPlan: boolean): HTMLElement {
  const res = o.result;
  const err = (x: number | null) => (x === null ? '–' : `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`);
  const ms = (x: number | null) => (x === null ? '–' : `${fmt(x)} ms`);
  const table = h(
    'table',
    { class: 'run-table' },
    h('thead', {}, h('tr', {}, h('th', {}, 'stage'), h('th', {}, 'predicted'), h('th', {}, 'measured (median)'), h('th', {}, 'p90'), h('th', { title: '(measured − predicted) / measured' }, 'error'))),
    h(
      'tbody',
      {},
      ...o.rows.map((row) =>
        h(
          'tr',
          { 'data-stage': row.stage, class: row.stage === 'end to end' ? 'total' : '' },
          h('th', {}, row.stage),
          h('td', { 'data-col': 'predicted' }, ms(row.predictedMs)),
          h('td', { 'data-col': 'measured' }, ms(row.measuredMs)),
          h('td', { 'data-col': 'p90' }, ms(row.p90Ms)),
          h('td', { 'data-col': 'error', class: row.relativeError !== null && Math.abs(row.relativeError) > 0.25 ? 'off' : '' }, err(row.relativeError)),
        ),
      ),
    ),
  );
  const b = res.measured.bytes;
  return h(
    'section',
    { class: 'run-outcome', 'data-run-id': res.run.id, 'data-plan-id': o.planId },
    h('h5', {}, `Run ${res.run.id} (plan ${o.planId}): predicted vs measured per request`),
    otherPlan ? h('p', { class: 'muted run-other' }, `This result is for an earlier selection (${describePlan(r)}); Run to measure the plan selected now.`) : null,
    res.predictionError ? h('p', { class: 'muted' }, `No prediction: ${res.predictionError}`) : null,
    table,
    h(
      'p',
      { class: 'run-summary' },
      h('span', { 'data-field': 'throughput' }, `Throughput ${fmt(res.measured.throughputRps, 3)} requests/s`),
      ` over ${res.run.requests} requests (${fmt(res.measured.requestsMs / 1000, 3)} s${res.run.pipelined ? ', pipelined' : ''}); `,
      h('span', { 'data-field': 'top1' }, res.top1 === null ? 'top-1 not measured (no labelled dataset)' : `top-1 ${pct(res.top1)}`),
      `; ${fmt(b.uplinkPerRequest)} B up and ${fmt(b.downlinkPerRequest)} B down per request, head file ${fmt(b.headFile)} B.`,
    ),
  );
}
