/**
 * The Pareto view: latency against degradation for the non-dominated plans, coloured by energy, with the
 * baselines as labelled squares, the knee ringed, the budget as a dashed rule and the selected plan highlighted.
 * Hovering a point shows its figures; clicking one selects it and shows its per-layer bits and cost breakdown.
 */
import * as Plot from '@observablehq/plot';
import type { BaselinePlanView, ParetoFrontView, SolveResult } from '../../core/api/contract.js';
import type { Plan } from '../../core/api/planning.js';
import { clear, fmt, h, pct } from '../dom.js';

export interface ParetoData {
  front: ParetoFrontView;
  solve: SolveResult;
  baselines: BaselinePlanView[];
  /** Names of the model's layers in order (for the per-layer bits). */
  layerNames: string[];
  budget: number;
  /** The plan shown in detail: a clicked one, or the solver's choice. */
  selected: Plan | null;
  /** How the selected plan came to be: the solver's choice under the budget, or a click. */
  selectedBy: 'solver' | 'click';
}

const BITS_COLOURS: Record<number, string> = { 32: '#4e79a7', 16: '#76b7b2', 8: '#59a14f', 6: '#edc948', 5: '#f28e2b', 4: '#e15759', 3: '#b07aa1', 2: '#9c755f' };
export const bitsColour = (b: number): string => BITS_COLOURS[b] ?? '#999';

function planTitle(p: Plan, label?: string): string {
  return [
    label ?? `cut after layer ${p.cut}`,
    `latency ${fmt(p.latencyMs)} ms`,
    `degradation ${pct(p.degradation)}`,
    `energy ${fmt(p.energyJ)} J`,
    `cost $${fmt(p.costUsd)}`,
    p.activationBits === null ? 'nothing sent' : `activations ${p.activationBits} bit`,
  ].join('\n');
}

export function samePlan(a: Plan | null, b: Plan | null): boolean {
  return !!a && !!b && a.cut === b.cut && a.activationBits === b.activationBits && a.bits.join(',') === b.bits.join(',');
}

export function renderPareto(container: HTMLElement, d: ParetoData, onSelect: (p: Plan) => void): void {
  clear(container);
  const plans = d.front.plans;
  const summary = h(
    'p',
    { class: 'pareto-summary', 'data-plans': plans.length, 'data-knee': d.front.knee },
    `${plans.length} non-dominated plans (${d.front.stats.solves} solves, ${fmt(d.front.stats.solveMs, 3)} ms of search in the core; the budget-independent sweep is cached). Budget ${pct(d.budget)}. `,
    d.solve.status === 'optimal' ? `The solver's plan under this budget: cut after layer ${d.solve.plan.cut}, ${fmt(d.solve.plan.latencyMs)} ms.` : `No plan meets the constraints: ${d.solve.report.message}`,
  );
  container.append(summary);
  if (!plans.length) {
    container.append(h('p', { class: 'muted' }, 'The front is empty: no plan meets the SLO and memory constraints.'));
    return;
  }
  const pts = plans.map((p, i) => ({ p, x: p.latencyMs, y: 100 * p.degradation, e: p.energyJ, title: planTitle(p) + (i === d.front.knee ? '\n(knee)' : '') }));
  const base = d.baselines.map((b) => ({ p: b as Plan, x: b.latencyMs, y: 100 * b.degradation, label: b.label + (b.feasible.all ? '' : ' ✗'), title: planTitle(b, b.label) + (b.feasible.all ? '' : '\n(violates a constraint)') }));
  const all = [...pts, ...base];
  const xs = all.map((q) => q.x).filter((x) => x > 0);
  const logX = xs.length > 1 && Math.max(...xs) / Math.min(...xs) > 30;
  const knee = d.front.knee >= 0 ? [pts[d.front.knee]] : [];
  const sel = d.selected ? [{ x: d.selected.latencyMs, y: 100 * d.selected.degradation }] : [];
  // Zoom the y axis to the region the budget is about (front tails often reach tens of percent at 2 bits).
  const yAll = Math.max(...all.map((q) => q.y));
  const yTop = Math.min(yAll, Math.max(4 * 100 * d.budget, d.selected ? 2 * 100 * d.selected.degradation : 0, 0.5));
  const clipped = all.filter((q) => q.y > yTop).length;
  const width = Math.max(420, Math.min(900, container.clientWidth || 760));
  const chart = Plot.plot({
    width,
    height: 340,
    marginRight: 150,
    grid: true,
    x: { label: 'Latency (ms) →', type: logX ? 'log' : 'linear' },
    y: { label: '↑ Degradation (% of top-1)', zero: true, domain: yAll > yTop ? [Math.min(0, ...all.map((q) => q.y)), yTop] : undefined },
    clip: true,
    color: { type: 'linear', scheme: 'viridis', label: 'Energy (J)', legend: true },
    marks: [
      Plot.ruleY([100 * d.budget], { stroke: '#c0392b', strokeDasharray: '5,4' }),
      Plot.text([{ x: Math.max(...all.map((q) => q.x)), y: 100 * d.budget }], { x: 'x', y: 'y', text: () => 'budget', dy: -6, textAnchor: 'end', fill: '#c0392b', fontSize: 10 }),
      Plot.line(pts, { x: 'x', y: 'y', stroke: '#bbb', strokeWidth: 1 }),
      Plot.dot(pts, { x: 'x', y: 'y', fill: 'e', r: 5, stroke: 'white', title: 'title', className: 'front-dot' }),
      Plot.dot(base, { x: 'x', y: 'y', symbol: 'square', r: 5, stroke: '#333', fill: 'white', title: 'title', className: 'baseline-dot' }),
      Plot.text(base, { x: 'x', y: 'y', text: 'label', dx: 9, textAnchor: 'start', fontSize: 10, fill: '#333' }),
      Plot.dot(knee, { x: 'x', y: 'y', r: 10, stroke: '#000', strokeDasharray: '2,2', fill: 'none' }),
      Plot.text(knee, { x: 'x', y: 'y', text: () => 'knee', dy: -15, fontSize: 10 }),
      Plot.dot(sel, { x: 'x', y: 'y', r: 9, stroke: '#e6550d', strokeWidth: 2.5, fill: 'none', className: 'selected-dot' }),
    ],
  });
  if (clipped) summary.append(` ${clipped} plans above ${fmt(yTop, 3)}% degradation are off the chart.`);
  const wrap = h('div', { class: 'pareto-chart' });
  wrap.append(chart);
  container.append(wrap);

  // Click: the nearest front point or baseline within 14 px of the pointer.
  const svgs = chart.tagName.toLowerCase() === 'svg' ? [chart as unknown as SVGSVGElement] : [...chart.querySelectorAll('svg')];
  const svg = svgs[svgs.length - 1];
  const sx = chart.scale('x')!;
  const sy = chart.scale('y')!;
  svg.style.cursor = 'crosshair';
  svg.addEventListener('click', (ev) => {
    const r = svg.getBoundingClientRect();
    const k = Number(svg.getAttribute('width')) / r.width || 1;
    const mx = (ev.clientX - r.left) * k;
    const my = (ev.clientY - r.top) * k;
    let best: Plan | null = null;
    let bestD = 14;
    for (const q of all) {
      const dx = sx.apply!(q.x) - mx;
      const dy = sy.apply!(q.y) - my;
      const dist = Math.hypot(dx, dy);
      if (dist < bestD) {
        bestD = dist;
        best = q.p;
      }
    }
    if (best) onSelect(best);
  });

  if (d.selected) container.append(planDetails(d.selected, d.layerNames, d.selectedBy));
}

/** Per-layer bits and the latency breakdown of one plan. */
export function planDetails(p: Plan, layerNames: string[], by: 'solver' | 'click'): HTMLElement {
  const b = p.breakdownMs;
  const parts: [string, number][] = [
    ['download', b.download],
    ['device', b.device],
    ['uplink', b.uplink],
    ['server', b.server],
    ['result', b.result],
  ];
  const total = parts.reduce((s, [, v]) => s + v, 0) || 1;
  const colours = ['#9c755f', '#59a14f', '#f28e2b', '#4e79a7', '#b07aa1'];
  const bar = h('div', { class: 'breakdown-bar' });
  parts.forEach(([name, v], i) => {
    if (v > 0) bar.append(h('div', { style: `width:${(100 * v) / total}%;background:${colours[i]}`, title: `${name}: ${fmt(v)} ms` }));
  });
  const bits = h('div', { class: 'bits-strip' });
  p.bits.forEach((bit, i) => bits.append(h('span', { class: 'bit-chip', style: `background:${bitsColour(bit)}`, title: `${layerNames[i] ?? `layer ${i + 1}`}: ${bit} bit` }, String(bit))));
  const cutName = p.cut === 0 ? 'nothing runs on the device (full offload)' : p.cut === layerNames.length ? 'everything runs on the device' : `cut after layer ${p.cut} (${layerNames[p.cut - 1] ?? '?'})`;
  return h(
    'section',
    { class: 'plan-details', 'data-cut': p.cut, 'data-selected-by': by },
    h('h4', {}, by === 'click' ? 'Selected plan' : "Solver's plan", ': ', cutName),
    h(
      'table',
      { class: 'metrics' },
      h(
        'tbody',
        {},
        h('tr', {}, h('th', {}, 'latency'), h('td', { 'data-field': 'latencyMs' }, `${fmt(p.latencyMs)} ms`), h('th', {}, 'degradation'), h('td', { 'data-field': 'degradation' }, pct(p.degradation))),
        h('tr', {}, h('th', {}, 'energy'), h('td', {}, `${fmt(p.energyJ)} J`), h('th', {}, 'server cost'), h('td', {}, `$${fmt(p.costUsd)}`)),
        h('tr', {}, h('th', {}, 'activations sent'), h('td', {}, p.activationBits === null ? '–' : `${p.activationBits} bit, ${fmt(p.uplinkBytes)} B`), h('th', {}, 'head weights'), h('td', {}, `${fmt(p.headWeightBytes)} B`)),
      ),
    ),
    h('h5', {}, 'Latency breakdown'),
    bar,
    h(
      'table',
      { class: 'breakdown' },
      h('thead', {}, h('tr', {}, ...parts.map(([n]) => h('th', {}, n)))),
      h('tbody', {}, h('tr', {}, ...parts.map(([n, v]) => h('td', { 'data-part': n }, `${fmt(v)} ms`)))),
    ),
    h('h5', {}, `Weight bits of the ${p.bits.length} head layers`),
    p.bits.length ? bits : h('p', { class: 'muted' }, 'No layer runs on the device.'),
  );
}
