/**
 * Sensitivity in the model view: the heat map of the model's newest measured sensitivity (one row per weight
 * width, one column per layer in the graph strip's order; colour = top-1 lost when only that layer runs at that
 * width), with the selected plan's choice per device layer outlined; and the panel that measures it
 * (sensitivity.run: a dataset, a number of samples, progress and Cancel). A new table changes what the planner's
 * `sensitivity` estimator offers, so the notebook re-plans when one is stored (`onMeasured`). The panel lives as
 * long as its cell shows a model view, so a measurement in progress survives re-renders.
 */
import type { Dataset } from '../../core/api/contract.js';
import type { ModelValue } from '../../core/notebook/cells.js';
import type { ApiClient } from '../../core/rpc/client.js';
import { clear, errorBox, fmt, h } from '../dom.js';
import { JobRunner, progressView } from './jobRunner.js';

/** White (no loss, or a noisy gain) to deep red (the largest loss in the table). */
function lossColour(drop: number, worst: number): string {
  const t = worst > 0 ? Math.max(0, Math.min(1, drop / worst)) : 0;
  const c = (a: number, b: number) => Math.round(a + (b - a) * Math.sqrt(t));
  return `rgb(${c(255, 165)},${c(255, 15)},${c(255, 21)})`;
}

/** The heat map (layer x bits) of a stored table, aligned with the model's planning layers. */
export function heatMap(d: ModelValue): HTMLElement | null {
  const s = d.sensitivity;
  if (!s) return null;
  const { table } = s;
  const row = new Map(table.layers.map((name, i) => [name, i]));
  const worst = Math.max(0, ...table.drop.flat());
  const cut = d.plan?.cut ?? null;
  const unit = table.metric === 'agreement' ? 'of decisions changed' : 'top-1 points lost';
  const grid = h('div', { class: 'heat-grid', style: `grid-template-columns: 3.2em repeat(${d.layerNames.length}, 9px)` });
  table.bits.forEach((bits, j) => {
    grid.append(h('span', { class: 'heat-label' }, `${bits} bit`));
    d.layerNames.forEach((name, i) => {
      const r = row.get(name);
      if (r === undefined) {
        grid.append(h('span', { class: 'heat-cell none', title: `${i + 1}. ${name}: no weights to quantize` }));
        return;
      }
      const drop = table.drop[r]![j]!;
      const chosen = cut !== null && i < cut && d.plan!.bits[i] === bits;
      grid.append(
        h('span', {
          class: `heat-cell${chosen ? ' chosen' : ''}`,
          style: `background:${lossColour(drop, worst)}`,
          'data-layer': name,
          'data-bits': bits,
          title: `${i + 1}. ${name} at ${bits} bit: ${fmt(100 * drop, 3)} ${table.metric === 'agreement' ? '% ' : ''}${unit}, KL ${fmt(table.kl[r]![j]!, 3)}${chosen ? ' (the selected plan)' : ''}`,
        }),
      );
    });
  });
  return h(
    'div',
    { class: 'heat-map', 'data-layers': table.layers.length, 'data-bits': table.bits.join(',') },
    h('p', { class: 'muted' }, `Sensitivity measured on ${s.samples} samples of ${s.dataset} (${s.createdAt.slice(0, 10)}): colour = ${unit} when only that layer is quantized, white = none, darkest = ${fmt(100 * worst, 3)}${table.metric === 'agreement' ? '%' : ' points'}. Outlined: the selected plan's width per device layer.`),
    h('div', { class: 'heat-scroll' }, grid),
  );
}

export class SensitivityPanel {
  readonly element = h('div', { class: 'sensitivity-panel', 'data-state': 'idle' });
  private model: string | null = null;
  private hasTable = false;
  private datasets: Dataset[] | null = null;
  private readonly job = new JobRunner(
    () => this.render(),
    () => this.renderProgress(),
  );
  private button = h('button', { type: 'button', class: 'sensitivity-start' }, 'Measure sensitivity');
  private cancelBtn = h('button', { type: 'button', class: 'sensitivity-cancel', hidden: true }, 'Cancel');
  private dataset = h('select', { class: 'sensitivity-dataset', 'aria-label': 'sensitivity dataset' });
  private samples = h('input', { type: 'number', class: 'sensitivity-samples', min: 50, max: 10000, step: 50, value: 500, 'aria-label': 'samples' });
  private progressEl = h('span', { class: 'sensitivity-progress' });
  private messageEl = h('div', { class: 'sensitivity-message' });

  constructor(
    private api: ApiClient,
    private onMeasured: () => void,
  ) {
    this.button.addEventListener('click', () => void this.start());
    this.cancelBtn.addEventListener('click', () => this.job.cancel());
    this.element.append(
      h('div', { class: 'sensitivity-controls' }, this.button, ' on ', this.dataset, ' ', h('label', {}, this.samples, ' samples'), ' ', this.cancelBtn, ' ', this.progressEl),
      this.messageEl,
    );
  }

  /** The model cell's new value. */
  update(d: ModelValue): void {
    this.model = d.model;
    this.hasTable = d.sensitivity !== null;
    if (!this.datasets) void this.loadDatasets();
    this.render();
  }

  dispose(): void {
    this.job.cancel();
  }

  private async loadDatasets(): Promise<void> {
    try {
      this.datasets = (await this.api['datasets.list']()).datasets;
    } catch {
      this.datasets = [];
    }
    // Calibration slices come from the end of a set; prefer a split that is not the test set when there is one.
    const sets = [...this.datasets].sort((a, b) => Number(/test/.test(a.name)) - Number(/test/.test(b.name)) || a.name.localeCompare(b.name));
    this.dataset.replaceChildren(...sets.map((d) => h('option', { value: d.name }, `${d.name} (${d.count})`)));
    this.render();
  }

  private async start(): Promise<void> {
    const model = this.model;
    if (!model || !this.dataset.value) return;
    const result = await this.job.run(({ signal, onProgress }) =>
      this.api.runJob('sensitivity.run', { model, dataset: this.dataset.value, samples: Math.max(1, Math.round(Number(this.samples.value) || 500)) }, { signal, onProgress }),
    );
    this.render();
    if (result) this.onMeasured();
  }

  private render(): void {
    this.element.dataset.state = this.job.state;
    const running = this.job.running;
    this.button.textContent = this.hasTable ? 'Measure again' : 'Measure sensitivity';
    this.button.disabled = running || !this.model || !this.datasets?.length;
    this.dataset.disabled = running;
    this.samples.disabled = running;
    this.cancelBtn.hidden = !running;
    clear(this.messageEl);
    if (!this.model) this.messageEl.append(h('p', { class: 'muted' }, 'An inline planning problem has no model to measure.'));
    else if (this.datasets && !this.datasets.length) this.messageEl.append(h('p', { class: 'muted' }, 'No dataset in the store: add one with `partita datasets add fashion-mnist` (Debian: apt-get install dataset-fashion-mnist).'));
    else if (!this.hasTable && !running) this.messageEl.append(h('p', { class: 'muted' }, 'No sensitivity measured for this model yet: the planner can only choose the cut (FP32/FP16). Measure it to trade bits for accuracy.'));
    if (this.job.state === 'error') this.messageEl.append(errorBox(this.job.error));
    if (this.job.state === 'cancelled') this.messageEl.append(h('p', { class: 'muted' }, 'Cancelled; nothing was stored.'));
    if (!running) clear(this.progressEl);
    this.renderProgress();
  }

  private renderProgress(): void {
    if (this.job.state !== 'running') return;
    const p = this.job.progress;
    const [bar, text] = progressView(p, 'sensitivity-bar', p ? `${p.stage} ${p.done}/${p.total}` : 'starting…');
    this.progressEl.replaceChildren(bar, ' ', text);
    this.progressEl.dataset.stage = p?.stage ?? '';
  }
}
