/**
 * "Export this plan", under the selected plan of a Pareto view: plans.export writes the plan as a folder (plan.json,
 * head.onnx, tail.onnx, the quantization overrides and encodings, report.html) in the workbench's exports folder,
 * with progress and Cancel; when done it lists the files (bytes, SHA-256) and the folder. A failure (e.g.
 * `quant-not-calibrated`: the link quantizes activations, so a calibration dataset is needed) shows in place. The
 * panel lives as long as its cell shows a Pareto view, so an export in progress survives edits and new selections.
 */
import type { Dataset, ExportResultView } from '../../core/api/contract.js';
import { JobRunner, progressView } from './jobRunner.js';
import type { ParetoValue } from '../../core/notebook/planning.js';
import type { ApiClient } from '../../core/rpc/client.js';
import { clear, errorBox, h } from '../dom.js';


interface Target {
  model: string;
  request: { device: string; link: string; server?: string; estimator?: 'sensitivity' | 'noise' | 'none'; objective: ParetoValue['settings']['objective']; constraints: ParetoValue['settings']['constraints'] };
  plan: { cut: number; bits: number[]; activationBits: number | null };
  inputShape?: Record<string, number[]>;
  label: string;
}

const STAGES: Record<string, string> = { problem: 'predicting the plan…', partitions: 'building head and tail…', files: 'writing files…' };

function targetOf(pv: ParetoValue): Target | null {
  const p = pv.selected;
  if (!pv.model || !p || !pv.settings.device || !pv.settings.link) return null;
  const s = pv.settings;
  const where = p.cut === 0 ? 'full offload' : p.cut === pv.layerNames.length ? 'all layers on the device' : `cut after layer ${p.cut}`;
  return {
    model: pv.model,
    request: { device: s.device!, link: s.link!, ...(s.server ? { server: s.server } : {}), ...(s.estimator ? { estimator: s.estimator } : {}), objective: s.objective, constraints: s.constraints },
    plan: { cut: p.cut, bits: [...p.bits], activationBits: p.activationBits },
    ...(s.inputShape ? { inputShape: s.inputShape } : {}),
    label: `${pv.model}, ${where}${p.activationBits === null ? '' : `, ${p.activationBits}-bit activations`}`,
  };
}

export class ExportPanel {
  readonly element = h('div', { class: 'export-panel', 'data-state': 'idle' });
  private target: Target | null = null;
  private inlineOnly = false;
  private readonly job = new JobRunner(
    () => this.render(),
    () => this.renderProgress(),
  );
  private last: { result: ExportResultView; label: string } | null = null;
  private datasets: Dataset[] | null = null;
  private button = h('button', { type: 'button', class: 'export-start' }, 'Export this plan');
  private cancelBtn = h('button', { type: 'button', class: 'export-cancel', hidden: true }, 'Cancel');
  private format = h('select', { class: 'export-format', 'aria-label': 'head weights format' });
  private calib = h('select', { class: 'export-calib', 'aria-label': 'calibration dataset' });
  private progressEl = h('span', { class: 'export-progress', hidden: true });
  private noteEl = h('p', { class: 'export-note muted' });
  private messageEl = h('div', { class: 'export-message' });
  private resultEl = h('div', { class: 'export-result' });

  constructor(private api: ApiClient) {
    for (const [v, label] of [
      ['simulation', 'any bits (simulated)'],
      ['qdq', 'INT8 QDQ'],
      ['matmul-nbits', 'MatMulNBits'],
    ]) {
      this.format.append(h('option', { value: v }, label));
    }
    this.calib.append(h('option', { value: '' }, 'no calibration data'));
    this.button.addEventListener('click', () => void this.start());
    this.cancelBtn.addEventListener('click', () => this.job.cancel());
    this.element.append(
      h('h5', {}, 'Export'),
      h('div', { class: 'export-controls' }, this.button, ' ', h('label', {}, 'head ', this.format), ' ', h('label', {}, 'activation ranges from ', this.calib), ' ', this.cancelBtn, ' ', this.progressEl),
      this.noteEl,
      this.messageEl,
      this.resultEl,
    );
  }

  /** The Pareto cell's new value: the plan the button exports from now on. */
  update(pv: ParetoValue): void {
    this.target = targetOf(pv);
    this.inlineOnly = !pv.model;
    if (this.datasets === null) void this.loadDatasets();
    this.render();
  }

  dispose(): void {
    this.job.cancel();
  }

  private async loadDatasets(): Promise<void> {
    this.datasets = [];
    try {
      this.datasets = (await this.api['datasets.list']()).datasets;
    } catch {
      return; // Exports without calibration still work; the list comes back with the next panel.
    }
    const chosen = this.calib.value;
    clear(this.calib);
    this.calib.append(h('option', { value: '' }, 'no calibration data'));
    // Training splits first: calibrating on the test split would leak it into the accuracy measured later.
    const sets = [...this.datasets].sort((a, b) => Number(/test/.test(a.name)) - Number(/test/.test(b.name)) || a.name.localeCompare(b.name));
    for (const d of sets) this.calib.append(h('option', { value: d.name }, `${d.name} (${d.count} samples)`));
    this.calib.value = chosen;
  }

  private async start(): Promise<void> {
    const t = this.target;
    if (!t) return;
    const result = await this.job.run(({ signal, onProgress }) =>
      this.api.runJob(
        'plans.export',
        {
          model: t.model,
          request: t.request,
          plan: t.plan as never,
          format: this.format.value as 'simulation' | 'qdq' | 'matmul-nbits',
          ...(t.inputShape ? { inputShape: t.inputShape } : {}),
          ...(this.calib.value ? { calib: this.calib.value } : {}),
        },
        { signal, onProgress },
      ),
    );
    if (result) this.last = { result, label: t.label };
    this.render();
  }

  private render(): void {
    this.element.dataset.state = this.job.state;
    const running = this.job.running;
    this.button.disabled = running || !this.target;
    this.cancelBtn.hidden = !running;
    this.progressEl.hidden = !running;
    this.noteEl.textContent = this.inlineOnly
      ? 'This view plans an inline problem, which names no stored model: plan a model by name ("model", "device", "link") to export its plans.'
      : this.target
        ? `Writes ${this.target.label} to the workbench's exports folder: plan.json, head.onnx, tail.onnx, quantization.ort.json, encodings.aimet.json, report.html.`
        : '';
    this.renderProgress();
    clear(this.messageEl);
    if (this.job.state === 'error') this.messageEl.append(errorBox(this.job.error));
    if (this.job.state === 'cancelled') this.messageEl.append(h('p', { class: 'muted' }, 'Cancelled; nothing was written.'));
    clear(this.resultEl);
    if (this.last) this.resultEl.append(resultView(this.last.result, this.last.label));
  }

  private renderProgress(): void {
    if (this.job.state !== 'running') return;
    const p = this.job.progress;
    const [bar, text] = progressView(p, 'export-bar', p ? (STAGES[p.stage] ?? p.stage) : 'starting…');
    this.progressEl.replaceChildren(bar, ' ', text);
  }
}

function resultView(r: ExportResultView, label: string): HTMLElement {
  return h(
    'div',
    { class: 'export-done', 'data-out-dir': r.outDir },
    h('p', {}, `Exported ${label} to `, h('code', { class: 'export-dir' }, r.outDir), ':'),
    h(
      'table',
      { class: 'export-files' },
      h('thead', {}, h('tr', {}, h('th', {}, 'file'), h('th', {}, 'bytes'), h('th', {}, 'SHA-256'))),
      h(
        'tbody',
        {},
        ...r.files.map((f) => h('tr', { 'data-file': f.name }, h('td', {}, f.name), h('td', { class: 'num' }, f.bytes.toLocaleString('en')), h('td', {}, h('code', { title: f.sha256 }, `${f.sha256.slice(0, 16)}…`)))),
      ),
    ),
  );
}
