/**
 * `partita notebook run FILE`: a notebook file evaluated headless, in-process. The core's handlers are served on
 * one end of an in-memory port pair and the notebook talks to a client on the other end, so every call is checked
 * against the contract exactly as it is when the page calls over the WebSocket. The outcome of each cell is
 * printed (and optionally written as an HTML or Markdown report); a failed cell fails the run. Plot cells are drawn as
 * SVG, each in its own sandboxed, time-limited Node process (plotProcess.ts), cut off from the network where the
 * platform allows it (otherwise onWarning is told).
 */
import { basename, dirname, extname, join } from 'node:path';
import type { Notebook, NotebookCell } from '../api/contract.js';
import { CoreError } from '../api/errors.js';
import type { Plan } from '../api/planning.js';
import type { DevicesValue, ModelValue, QueryValue, RunCellValue, RunsValue, StageRow } from '../notebook/cells.js';
import { escapeHtml, markdownToHtml } from '../notebook/markdown.js';
import type { ParetoValue } from '../notebook/planning.js';
import { runNotebook, type CellOutcome } from '../notebook/run.js';
import type { Baselines } from '../plan/baselines.js';
import { connectApi } from '../rpc/client.js';
import { memoryPorts } from '../rpc/port.js';
import { readNotebookFile } from './notebookFiles.js';
import { serveApi } from '../rpc/server.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { createHandlers } from './handlers.js';
import { paretoSvg } from './paretoSvg.js';
import { headlessPlotRunner, plotNetworkWarning, type PlotValue } from './plotProcess.js';
import { standaloneSvg } from './plotSvg.js';
import { writeFileAtomic } from './quantize.js';
import { formatTable } from './table.js';

export interface NotebookRunOptions {
  /** Also write a report: `.html` (Pareto fronts and plot cells as inline SVG) or `.md` (SVG files next to it). */
  out?: string;
  /** Start the runs of run cells (`"view": "run"`) and report what they measured; otherwise they only say what they would run. */
  executeRuns?: boolean;
  onProgress?: (settled: number, total: number, cellId: string) => void;
  /** Told, before any cell runs, what the user should know about this run (one line each): plot cells that can reach the network. */
  onWarning?: (line: string) => void;
}

/** One cell in the JSON output: its outcome with a compact summary instead of the full value. */
export interface CellReport {
  id: string;
  kind: NotebookCell['kind'];
  status: CellOutcome['status'];
  ms?: number;
  /** What the cell computed, in brief (the settings, the query's table, the front's size, knee and chosen plan…). */
  summary?: unknown;
  reason?: string;
  error?: { code?: string; message: string };
}

export interface NotebookRunReport {
  file: string;
  name: string;
  cells: CellReport[];
  counts: { ok: number; skipped: number; error: number };
  /** The ids of the failed cells, in document order. */
  failed: string[];
  /** The report files written (--out). */
  written: string[];
}

export interface NotebookRunResult {
  report: NotebookRunReport;
  /** The human-readable outcome, one block per cell. */
  text: string;
  /** A CoreError naming the failed cells (with the report as details), or null when every cell ran or was skipped. */
  failure: CoreError | null;
}


function reportFormat(out: string): 'html' | 'md' {
  const ext = extname(out).toLowerCase();
  if (ext === '.html' || ext === '.htm') return 'html';
  if (ext === '.md' || ext === '.markdown') return 'md';
  throw new CoreError('notebook-out-invalid', `Report '${out}' must end in .html or .md. Pick one: --out report.html or --out report.md.`);
}

/** Reads, checks and evaluates a notebook file against the store; writes the report when asked. */
export async function runNotebookFile(store: SqliteStore, file: string, o: NotebookRunOptions = {}): Promise<NotebookRunResult> {
  const format = o.out ? reportFormat(o.out) : null;
  const nb = readNotebookFile(file);
  const warning = nb.cells.some((c) => c.kind === 'plot') ? plotNetworkWarning() : null;
  if (warning) o.onWarning?.(warning);
  const core = createHandlers(store);
  const [serverPort, clientPort] = memoryPorts();
  const connection = serveApi(serverPort, core.handlers);
  const api = connectApi(clientPort);
  let outcomes: CellOutcome[];
  try {
    outcomes = await runNotebook(api, nb, { onProgress: o.onProgress, executeRuns: o.executeRuns ? api : undefined, plot: headlessPlotRunner() });
  } finally {
    api.close();
    connection.close();
    core.close();
  }

  const cells = outcomes.map((c): CellReport => {
    if (c.status === 'skipped') return { id: c.id, kind: c.kind, status: c.status, reason: c.reason };
    if (c.status === 'error') return { id: c.id, kind: c.kind, status: c.status, ms: round(c.ms), error: c.error };
    return { id: c.id, kind: c.kind, status: c.status, ms: round(c.ms), summary: summarize(c) };
  });
  const failed = outcomes.filter((c) => c.status === 'error').map((c) => c.id);
  const count = (s: CellOutcome['status']) => outcomes.filter((c) => c.status === s).length;
  const report: NotebookRunReport = { file, name: nb.name, cells, counts: { ok: count('ok'), skipped: count('skipped'), error: count('error') }, failed, written: [] };
  if (o.out && format) report.written = writeReport(o.out, format, nb, outcomes);

  const text = [
    `Notebook '${nb.name}' (${file}): ${nb.cells.length} cells`,
    '',
    ...outcomes.map((c) => cellText(c)),
    '',
    `${report.counts.ok} ok, ${report.counts.skipped} skipped, ${report.counts.error} failed.` + (report.written.length ? ` Report: ${report.written.join(', ')}.` : ''),
  ].join('\n');

  let failure: CoreError | null = null;
  if (failed.length) {
    const first = outcomes.find((c) => c.status === 'error') as Extract<CellOutcome, { status: 'error' }>;
    const more = failed.length > 1 ? ` ${failed.length} cells failed: ${failed.map((id) => `'${id}'`).join(', ')}.` : '';
    failure = new CoreError('notebook-cell-failed', `Cell '${first.id}' (${first.kind}) failed: ${errorText(first.error)}${more} Fix the cell in '${file}' and run again.`, report);
  }
  return { report, text, failure };
}

const round = (ms: number): number => Math.round(ms * 10) / 10;
const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
const ms = (x: number): string => `${x >= 100 ? x.toFixed(1) : x.toPrecision(3)} ms`;
const errorText = (e: { code?: string; message: string }): string => (e.code ? `[${e.code}] ${e.message}` : e.message);

function isPareto(v: unknown): v is ParetoValue {
  return !!v && typeof v === 'object' && 'front' in v && 'solve' in v;
}
function isModel(v: unknown): v is ModelValue {
  return !!v && typeof v === 'object' && 'layerNames' in v && 'plan' in v && !('front' in v);
}
function isView<V extends string>(v: unknown, view: V): boolean {
  return !!v && typeof v === 'object' && (v as { view?: unknown }).view === view;
}
const isRunCell = (v: unknown): v is RunCellValue => isView(v, 'run');
const isRuns = (v: unknown): v is RunsValue => isView(v, 'runs');
const isDevices = (v: unknown): v is DevicesValue => isView(v, 'devices');
function isPlot(c: CellOutcome, v: unknown): v is PlotValue {
  return c.kind === 'plot' && !!v && typeof v === 'object' && typeof (v as PlotValue).svg === 'string' && typeof (v as PlotValue).bytes === 'number';
}
function isQuery(v: unknown): v is QueryValue {
  return !!v && typeof v === 'object' && Array.isArray((v as QueryValue).columns) && Array.isArray((v as QueryValue).rows);
}

const planBrief = (p: Plan) => ({ cut: p.cut, bits: p.bits, activationBits: p.activationBits, latencyMs: p.latencyMs, degradation: p.degradation, energyJ: p.energyJ, costUsd: p.costUsd });

function summarize(c: Extract<CellOutcome, { status: 'ok' }>): unknown {
  const v = c.value;
  // The markup itself goes to the report (--out), not into the summary.
  if (isPlot(c, v)) return { plot: v.root, bytes: v.bytes };
  if (isPareto(v)) {
    const knee = v.front.knee >= 0 ? v.front.plans[v.front.knee] : null;
    return {
      view: 'pareto',
      model: v.model,
      plans: v.front.plans.length,
      knee: knee ? { index: v.front.knee, ...planBrief(knee) } : null,
      chosen: v.selected ? { by: v.selectedBy, ...planBrief(v.selected) } : null,
      solver: v.solve.status === 'optimal' ? 'optimal' : v.solve.report.message,
      baselines: v.baselines.map((b) => ({ baseline: b.baseline, label: b.label, latencyMs: b.latencyMs, degradation: b.degradation, feasible: b.feasible.all })),
    };
  }
  if (isModel(v)) {
    const s = v.sensitivity;
    return { view: 'model', model: v.model, layers: v.layerNames.length, cut: v.plan?.cut ?? null, headLayers: v.plan ? v.layerNames.slice(0, v.plan.cut) : [], sensitivity: s ? { dataset: s.dataset, samples: s.samples, bits: s.table.bits, layers: s.table.layers, drop: s.table.drop } : null };
  }
  if (isQuery(v)) return { columns: v.columns, rows: v.rows, truncated: v.truncated };
  if (isRunCell(v)) {
    const { model, device, link, server, plan, requests, eval: dataset, agent } = v.request;
    const o = v.outcome;
    return {
      view: 'run',
      request: { model, device, link, server, plan, requests, eval: dataset, agent },
      executed: o !== null,
      ...(o ? { planId: o.planId, runId: o.result.run.id, stages: o.rows, throughputRps: o.result.measured.throughputRps, top1: o.result.top1 } : {}),
    };
  }
  if (isRuns(v)) return { view: 'runs', model: v.model, ...v.summary, runs: v.runs.map((r) => ({ id: r.id, model: r.model, status: r.status, predictedMs: r.predictedMs, measuredMs: r.measuredMs })) };
  if (isDevices(v)) return { view: 'devices', devices: v.devices.map((d) => ({ name: d.name, kind: d.kind })), hubUrl: v.hubUrl, agents: v.agents.map((a) => a.name), tokens: v.tokens.length };
  return v;
}

function planText(p: Plan, layers: number): string {
  const where = p.cut === 0 ? 'full offload (nothing runs on the device)' : p.cut === layers ? 'everything on the device' : `cut after layer ${p.cut} of ${layers}`;
  return `${where}, ${ms(p.latencyMs)}, degradation ${pct(p.degradation)}, energy ${p.energyJ.toPrecision(3)} J`;
}

/** What an evaluated cell shows, in words: a first line, then details (no table). */
function describe(c: Extract<CellOutcome, { status: 'ok' }>): string[] {
  const v = c.value;
  if (isPlot(c, v)) return [`plot: SVG, ${v.bytes} bytes${v.root === 'figure' ? ', a figure with a title or legend' : ''}`];
  if (isPareto(v)) {
    const knee = v.front.knee >= 0 ? v.front.plans[v.front.knee] : null;
    return [
      `${v.front.plans.length} non-dominated plans${v.model ? ` for ${v.model}` : ''} (budget ${pct(v.settings.constraints.maxDegradation)})`,
      `knee: ${knee ? planText(knee, v.layerNames.length) : 'none (the front is empty)'}`,
      v.selected ? `chosen plan (${v.selectedBy}): ${planText(v.selected, v.layerNames.length)}` : `no plan meets the constraints: ${v.solve.status === 'infeasible' ? v.solve.report.message : ''}`,
    ];
  }
  if (isModel(v)) {
    const cut = v.plan?.cut ?? null;
    const s = v.sensitivity;
    const sensitivity = !v.model ? '' : s ? `; sensitivity measured on ${s.samples} samples of ${s.dataset}` : '; no sensitivity measured (partita sensitivity MODEL --dataset NAME)';
    return [`${v.model ?? 'planning problem'}, ${v.layerNames.length} layers; ${cut === null ? 'no plan selected' : cut === 0 ? 'everything on the server' : `layers 1–${cut} on the device, bits ${v.plan!.bits.join(',')}`}${sensitivity}`];
  }
  if (isQuery(v)) return [`${v.rows.length} row${v.rows.length === 1 ? '' : 's'}${v.truncated ? ' (truncated)' : ''}`];
  if (isRunCell(v)) {
    const r = v.request;
    const what = `${r.model}, ${r.plan.cut === 0 ? 'full offload' : r.plan.cut === r.layerCount ? 'everything on the device' : `cut after layer ${r.plan.cut}`} on ${r.device} over ${r.link}, ${r.requests} requests${r.eval ? ` of ${r.eval}` : ''}${r.agent ? ` on agent ${r.agent}` : ' locally'}`;
    if (!v.outcome) return [`ready to run: ${what} (the workbench's Run button starts it; \`--execute-runs\` runs it here)`];
    const o = v.outcome;
    return [
      `ran ${what}: plan ${o.planId}, run ${o.result.run.id}, ${o.result.measured.throughputRps.toPrecision(3)} requests/s${o.result.top1 === null ? '' : `, top-1 ${pct(o.result.top1)}`}`,
      ...o.rows.map(stageText),
    ];
  }
  if (isRuns(v)) {
    const s = v.summary;
    return [`${v.runs.length} stored run${v.runs.length === 1 ? '' : 's'}${v.model ? ` of ${v.model}` : ''} (${s.ok} ok, ${s.failed} failed)${s.medianAbsError === null ? '' : `; end-to-end error |measured - predicted| / measured: median ${pct(s.medianAbsError)}, worst ${pct(s.worstAbsError!)}`}`];
  }
  if (isDevices(v)) {
    const kinds = (k: string) => v.devices.filter((d) => d.kind === k).length;
    return [
      `${v.devices.length} device profiles (${kinds('preset')} presets, ${kinds('measured')} measured, ${kinds('custom')} custom); ${v.hubUrl ? `hub ${v.hubUrl}, ${v.agents.length} agents attached` : 'no agent hub here (agents attach to `partita serve`)'}; ${v.tokens.filter((t) => !t.revokedAt).length} live pairing tokens`,
    ];
  }
  if (c.kind === 'settings') {
    const s = v as Record<string, unknown> | null;
    const named = s && typeof s === 'object' ? ['model', 'device', 'link', 'server', 'estimator'].filter((k) => typeof s[k] === 'string').map((k) => `${k} ${s[k]}`) : [];
    const budget = (s as { constraints?: { maxDegradation?: unknown } } | null)?.constraints?.maxDegradation;
    return [`valid${named.length ? `: ${named.join(', ')}` : ''}${typeof budget === 'number' ? `, budget ${pct(budget)}` : ''}`];
  }
  return ['evaluated'];
}

function stageText(r: StageRow): string {
  const f = (x: number | null) => (x === null ? '–' : ms(x));
  return `${r.stage}: predicted ${f(r.predictedMs)}, measured ${f(r.measuredMs)}${r.relativeError === null ? '' : ` (${r.relativeError >= 0 ? '+' : ''}${pct(r.relativeError)})`}`;
}

function cellText(c: CellOutcome): string {
  const head = `cell ${c.id} (${c.kind})`;
  if (c.status === 'skipped') return `${head}: skipped, ${c.reason}`;
  if (c.status === 'error') return `${head}: FAILED: ${errorText(c.error)}`;
  const [first, ...rest] = describe(c);
  const lines = [`${head}: ok${c.kind === 'settings' ? '' : ` in ${ms(c.ms)}`}, ${first}`, ...rest.map((l) => `  ${l}`)];
  if (isQuery(c.value)) lines.push(...formatTable(c.value.columns, c.value.rows.map((r) => r.map((x) => (typeof x === 'boolean' ? String(x) : x)))).split('\n').map((l) => `  ${l}`));
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Reports

function baselinesOf(v: ParetoValue): Baselines {
  return Object.fromEntries(v.baselines.map((b) => [b.baseline, b])) as unknown as Baselines;
}

function planRows(v: ParetoValue): { headers: string[]; rows: (string | number)[][] } {
  return {
    headers: ['', 'cut', 'latency ms', 'energy J', 'degradation', 'cost $', 'head bits'],
    rows: v.front.plans.map((p, i) => [i === v.front.knee ? 'knee' : '', p.cut, Number(p.latencyMs.toPrecision(4)), Number(p.energyJ.toPrecision(4)), pct(p.degradation), Number(p.costUsd.toPrecision(3)), p.bits.join(',')]),
  };
}

function writeReport(out: string, format: 'html' | 'md', nb: Notebook, outcomes: CellOutcome[]): string[] {
  const written: string[] = [];
  const byId = new Map(outcomes.map((c) => [c.id, c]));
  const parts: string[] = [];
  const svgFor = (c: CellOutcome, v: ParetoValue) => paretoSvg(v.front.plans, v.front.knee, baselinesOf(v), `${nb.name}: cell ${c.id}`);
  for (const cell of nb.cells) {
    const c = byId.get(cell.id)!;
    const v = c.status === 'ok' ? c.value : undefined;
    if (format === 'html') {
      let body: string;
      if (cell.kind === 'markdown') body = markdownToHtml(cell.source);
      else if (c.status === 'skipped') body = `<p class="muted">Skipped: ${escapeHtml(c.reason)}.</p>`;
      else if (c.status === 'error') body = `<div class="error"><strong>${escapeHtml(c.error.code ?? 'error')}</strong> ${escapeHtml(c.error.message)}</div>`;
      else if (isPareto(v)) {
        const t = planRows(v);
        body = `<ul>${describe(c).map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>\n<figure>${svgFor(c, v)}</figure>\n${htmlTable(t.headers, t.rows)}`;
      } else if (isPlot(c, v)) {
        // Cleaned when it came back from the plot process (plotSvg.ts): the workbench's markup policy.
        body = `<p>${escapeHtml(describe(c)[0])}</p>\n${v.root === 'svg' ? `<figure>${v.svg}</figure>` : v.svg}`;
      } else if (isQuery(v)) body = `<p>${escapeHtml(describe(c)[0])}</p>\n${htmlTable(v.columns, v.rows)}`;
      else if (viewTable(v)) {
        const t = viewTable(v)!;
        body = `<ul>${describe(c).slice(0, 1).map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>\n${htmlTable(t.headers, t.rows)}`;
      } else body = `<p>${escapeHtml(describe(c).join('; '))}</p>`;
      const source = cell.kind === 'markdown' ? '' : `<pre><code>${escapeHtml(cell.source)}</code></pre>\n`;
      parts.push(`<section class="cell" id="cell-${escapeHtml(cell.id)}" data-status="${c.status}">\n<h6>${escapeHtml(cell.id)} · ${cell.kind}</h6>\n${source}${body}\n</section>`);
    } else {
      if (cell.kind === 'markdown') {
        // One level down, as in the workbench: the report's title is the only top-level heading.
        parts.push(cell.source.trim().replace(/^(#{1,5})\s/gm, '#$1 '));
        continue;
      }
      const lines = [`#### \`${cell.id}\` · ${cell.kind}`, '', '```' + (cell.kind === 'query' ? 'sql' : cell.kind === 'plot' ? 'js' : 'json'), cell.source, '```', ''];
      if (c.status === 'skipped') lines.push(`*Skipped: ${c.reason}.*`);
      else if (c.status === 'error') lines.push(`> **Error** ${errorText(c.error)}`);
      else if (isPareto(v)) {
        const svgPath = join(dirname(out), `${basename(out, extname(out))}.${cell.id}.svg`);
        written.push(writeFileAtomic(svgPath, svgFor(c, v) + '\n'));
        const t = planRows(v);
        lines.push(...describe(c).map((l) => `- ${l}`), '', `![Pareto front of ${cell.id}](${basename(svgPath)})`, '', mdTable(t.headers, t.rows));
      } else if (isPlot(c, v)) {
        const svgPath = join(dirname(out), `${basename(out, extname(out))}.${cell.id}.svg`);
        written.push(writeFileAtomic(svgPath, standaloneSvg(v.svg) + '\n'));
        lines.push(describe(c)[0] + (v.root === 'figure' ? '; the SVG file holds the chart only (an HTML report has the title and legend too)' : ''), '', `![Plot of ${cell.id}](${basename(svgPath)})`);
      } else if (isQuery(v)) lines.push(describe(c)[0], '', mdTable(v.columns, v.rows));
      else if (viewTable(v)) lines.push(describe(c)[0], '', mdTable(viewTable(v)!.headers, viewTable(v)!.rows));
      else lines.push(describe(c).join('; '));
      parts.push(lines.join('\n'));
    }
  }
  const doc =
    format === 'html'
      ? `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>${escapeHtml(nb.name)}</title>\n<style>${REPORT_CSS}</style>\n</head>\n<body>\n<h1>${escapeHtml(nb.name)}</h1>\n${parts.join('\n')}\n</body>\n</html>\n`
      : `# ${nb.name}\n\n${parts.join('\n\n')}\n`;
  written.unshift(writeFileAtomic(out, doc));
  return written;
}

const REPORT_CSS =
  'body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}' +
  'pre{background:#f6f6f6;padding:.6em;overflow:auto}table{border-collapse:collapse;margin:.5em 0}' +
  'td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}.error{background:#fdecea;border-left:4px solid #c0392b;padding:.5em}' +
  '.muted{color:#777}h6{margin:1.5em 0 .3em;color:#888;font-weight:normal}';

/** The table a run or runs view adds to a report: predicted vs measured per stage, or one row per stored run. */
function viewTable(v: unknown): { headers: string[]; rows: (string | number)[][] } | null {
  const r4 = (x: number | null) => (x === null ? '–' : Number(x.toPrecision(4)));
  const err = (x: number | null) => (x === null ? '–' : pct(x));
  if (isRunCell(v) && v.outcome) return { headers: ['stage', 'predicted ms', 'measured ms (median)', 'p90 ms', 'error'], rows: v.outcome.rows.map((r) => [r.stage, r4(r.predictedMs), r4(r.measuredMs), r4(r.p90Ms), err(r.relativeError)]) };
  if (isRuns(v) && v.runs.length) {
    return {
      headers: ['run', 'model', 'target', 'device', 'link', 'cut', 'status', 'predicted ms', 'measured ms', 'error', 'top-1'],
      rows: v.runs.map((r) => [r.id, r.model, r.agentName ?? r.target, r.device, r.link, r.cut, r.status, r4(r.predictedMs), r4(r.measuredMs), err(r.relativeError), r.top1 === null ? '–' : pct(r.top1)]),
    };
  }
  return null;
}

function htmlTable(headers: string[], rows: unknown[][]): string {
  const cell = (x: unknown) => escapeHtml(x === null ? 'NULL' : String(x));
  return `<table><thead><tr>${headers.map((h) => `<th>${cell(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((x) => `<td>${cell(x)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

function mdTable(headers: string[], rows: unknown[][]): string {
  const cell = (x: unknown) => (x === null ? 'NULL' : String(x)).replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [`| ${headers.map(cell).join(' | ')} |`, `|${headers.map(() => ' --- ').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}
