/**
 * The predicted-vs-measured view (`{"view": "runs"}`): every stored run as a point, the planner's end-to-end
 * latency per request on x and the measured median on y (log scales, so a 10% miss is the same distance
 * everywhere), the line y = x where a perfect prediction falls, points coloured by model with the run's figures on
 * hover; and the same runs as a table (failed runs too, with their reason).
 */
import * as Plot from '@observablehq/plot';
import type { RunPoint, RunsValue } from '../../core/notebook/cells.js';
import { clear, fmt, h, pct } from '../dom.js';

function pointTitle(p: RunPoint): string {
  return [
    `run ${p.id}: ${p.model}`,
    `${p.target === 'agent' ? `agent ${p.agentName}` : 'local'}, ${p.device} over ${p.link}, server ${p.server}`,
    `cut ${p.cut}${p.activationBits === null ? '' : `, activations ${p.activationBits} bit`}`,
    `predicted ${fmt(p.predictedMs)} ms, measured ${fmt(p.measuredMs)} ms (p90 ${fmt(p.measuredP90Ms)} ms)`,
    p.relativeError === null ? '' : `error ${(100 * p.relativeError).toFixed(1)}%`,
    p.top1 === null ? '' : `top-1 ${pct(p.top1)}`,
    `${p.requests} requests, ${p.createdAt}`,
  ]
    .filter(Boolean)
    .join('\n');
}

export function renderRuns(container: HTMLElement, v: RunsValue): void {
  clear(container);
  const s = v.summary;
  const plotted = v.runs.filter((p) => p.status === 'ok' && p.predictedMs !== null && p.measuredMs !== null && p.predictedMs > 0 && p.measuredMs > 0);
  container.append(
    h(
      'p',
      { class: 'runs-summary', 'data-runs': v.runs.length, 'data-plotted': plotted.length },
      `${v.runs.length} stored run${v.runs.length === 1 ? '' : 's'}${v.model ? ` of ${v.model}` : ''}: ${s.ok} ok, ${s.failed} failed. `,
      s.medianAbsError === null ? '' : `End-to-end error |measured − predicted| / measured: median ${pct(s.medianAbsError)}, worst ${pct(s.worstAbsError!)}.`,
    ),
  );
  if (!v.runs.length) {
    container.append(h('p', { class: 'muted' }, 'No runs yet. Run a plan from a run cell ({"view": "run", "plan": "<pareto cell>"}) or with `partita run`, and it appears here.'));
    return;
  }
  if (plotted.length) {
    const vals = plotted.flatMap((p) => [p.predictedMs!, p.measuredMs!]);
    const lo = Math.min(...vals) / 1.3;
    const hi = Math.max(...vals) * 1.3;
    const width = Math.max(420, Math.min(760, container.clientWidth || 640));
    const chart = Plot.plot({
      width,
      height: Math.min(420, width * 0.75),
      marginRight: 20,
      grid: true,
      x: { type: 'log', domain: [lo, hi], label: 'Predicted end-to-end latency (ms) →', tickFormat: '~g' },
      y: { type: 'log', domain: [lo, hi], label: '↑ Measured median (ms)', tickFormat: '~g' },
      color: { type: 'categorical', scheme: 'tableau10', legend: true, label: 'Model' },
      marks: [
        Plot.line(
          [
            [lo, lo],
            [hi, hi],
          ],
          { x: (d: number[]) => d[0], y: (d: number[]) => d[1], stroke: '#888', strokeDasharray: '5,4' },
        ),
        Plot.text([[lo * 1.4, lo * 1.4]], { x: (d: number[]) => d[0], y: (d: number[]) => d[1], text: () => 'y = x (as predicted)', textAnchor: 'start', dx: 8, dy: 4, fill: '#666', fontSize: 10 }),
        Plot.dot(plotted, { x: 'predictedMs', y: 'measuredMs', fill: 'model', r: 5, stroke: 'white', title: pointTitle, className: 'run-dot' }),
      ],
    });
    container.append(h('div', { class: 'runs-chart' }, chart));
  }
  const rows = v.runs.map((p) =>
    h(
      'tr',
      { 'data-run-id': p.id, 'data-status': p.status },
      h('td', {}, p.id),
      h('td', {}, p.model),
      h('td', {}, p.target === 'agent' ? `agent ${p.agentName}` : 'local'),
      h('td', {}, `${p.device} / ${p.link}`),
      h('td', {}, p.cut),
      h('td', {}, p.requests),
      h('td', { 'data-col': 'predicted' }, p.predictedMs === null ? '–' : `${fmt(p.predictedMs)} ms`),
      h('td', { 'data-col': 'measured' }, p.measuredMs === null ? '–' : `${fmt(p.measuredMs)} ms`),
      h('td', {}, p.relativeError === null ? '–' : `${(100 * p.relativeError).toFixed(1)}%`),
      h('td', {}, p.throughputRps === null ? '–' : fmt(p.throughputRps, 3)),
      h('td', {}, p.top1 === null ? '–' : pct(p.top1)),
      h('td', { class: p.status === 'failed' ? 'failed' : '' }, p.status === 'ok' ? 'ok' : (p.error ?? 'failed')),
    ),
  );
  container.append(
    h(
      'table',
      { class: 'runs-table' },
      h(
        'thead',
        {},
        h('tr', {}, ...['run', 'model', 'target', 'device / link', 'cut', 'requests', 'predicted', 'measured', 'error', 'req/s', 'top-1', 'status'].map((c) => h('th', {}, c))),
      ),
      h('tbody', {}, ...rows),
    ),
  );
}
