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
  /** A fuller answer is on its way (the summary says so; data-refining): the front is coarse, or baselines are pending. */
  refining?: boolean;
  /** The front is the coarse first answer. */
  coarse?: boolean;
  /** Baselines not computed yet (a coarse answer leaves out the ones that need a search); the summary names them. */
  baselinesPending?: string[];
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

/** The smallest of 0.1, 0.2, 0.5, 1, 2, 5, 10, … that is >= v: the y zoom moves in steps, so edits often keep it. */
function niceCeil(v: number): number {
  const k = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * k >= v * (1 - 1e-12)) return m * k;
  return 10 * k;
}

interface Point {
  p: Plan;
  x: number;
  y: number;
}

/**
 * What a container shows between renders. The Plot chart (front, baselines, knee) and the energy legend are redrawn
 * only when what they draw changes; the budget rule and the selected plan's ring are plain SVG over the chart, moved
 * on every render. A budget edit that keeps the front and the zoom therefore repaints no Plot mark.
 */
interface ChartState {
  key: string;
  legendKey: string;
  summary: HTMLElement;
  wrap: HTMLElement;
  legend: Element | null;
  chart: SVGSVGElement;
  overlay: SVGGElement;
  sx: (v: number) => number;
  sy: (v: number) => number;
  yRange: [number, number];
  xRange: [number, number];
  /** The points a click picks from (replaced on every render, so a click selects the plan as now shown). */
  all: Point[];
  onSelect: (p: Plan) => void;
}

const states = new WeakMap<HTMLElement, ChartState>();
const widths = new WeakMap<HTMLElement, number>();

/** The container's width, read once and then kept current by a ResizeObserver (reading it per edit forces a layout). */
function widthOf(container: HTMLElement): number {
  let w = widths.get(container);
  if (w === undefined) {
    w = container.clientWidth;
    widths.set(container, w);
    if (typeof ResizeObserver !== 'undefined') new ResizeObserver((entries) => widths.set(container, entries[entries.length - 1].contentRect.width)).observe(container);
  }
  return Math.max(420, Math.min(900, w || 760));
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function svgEl<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function refiningText(d: ParetoData): string {
  const pending = d.baselinesPending?.length ? `baseline ${d.baselinesPending.join(', ')} to come` : '';
  if (d.coarse) return `Coarse front, refining${pending ? ` (${pending})` : ''}… `;
  return `Front and plan exact; ${pending}… `;
}

/**
 * Draws the view into `container` (which it owns: it keeps the chart there between renders); `extra` (e.g. the
 * export controls) goes at the end of the selected plan's details. Returns the details section (null: no selection).
 */
export function renderPareto(container: HTMLElement, d: ParetoData, onSelect: (p: Plan) => void, extra?: HTMLElement): HTMLElement | null {
  const plans = d.front.plans;
  const summary = h(
    'p',
    { class: 'pareto-summary', 'data-plans': plans.length, 'data-knee': d.front.knee, ...(d.refining ? { 'data-refining': 'true' } : {}) },
    d.refining ? h('span', { class: 'refining' }, refiningText(d)) : '',
    `${plans.length} non-dominated plans (${d.front.stats.solves} solves, ${fmt(d.front.stats.solveMs, 3)} ms of search in the core; the budget-independent sweep is cached). Budget ${pct(d.budget)}. `,
    d.solve.status === 'optimal' ? `The solver's plan under this budget: cut after layer ${d.solve.plan.cut}, ${fmt(d.solve.plan.latencyMs)} ms.` : `No plan meets the constraints: ${d.solve.report.message}`,
  );
  let st = states.get(container);
  if (st && st.wrap.parentNode !== container) st = undefined; // the container was cleared by someone else
  if (!plans.length) {
    states.delete(container);
    clear(container);
    container.append(summary, h('p', { class: 'muted' }, 'The front is empty: no plan meets the SLO and memory constraints.'));
    return null;
  }
  const pts = plans.map((p, i) => ({ p, x: p.latencyMs, y: 100 * p.degradation, e: p.energyJ, knee: i === d.front.knee }));
  const base = d.baselines.map((b) => ({ p: b as Plan, x: b.latencyMs, y: 100 * b.degradation, label: b.label + (b.feasible.all ? '' : ' ✗'), feasible: b.feasible.all }));
  const all: Point[] = [...pts, ...base];
  const xs = all.map((q) => q.x).filter((x) => x > 0);
  const logX = xs.length > 1 && Math.max(...xs) / Math.min(...xs) > 30;
  const knee = d.front.knee >= 0 ? [pts[d.front.knee]] : [];
  // The y axis shows the region the budget is about (front tails often reach tens of percent at 2 bits): up to four
  // times the budget, rounded up to 1, 2 or 5 times a power of ten so that most edits keep the axis (and the chart).
  const yTop = niceCeil(Math.max(4 * 100 * d.budget, d.selected ? 2 * 100 * d.selected.degradation : 0, 0.5));
  const yDomain = [Math.min(0, ...all.map((q) => q.y)), yTop];
  const clipped = all.filter((q) => q.y > yTop).length;
  const width = widthOf(container);
  let eMin = Infinity;
  let eMax = -Infinity;
  for (const q of pts) {
    eMin = Math.min(eMin, q.e);
    eMax = Math.max(eMax, q.e);
  }
  const colour = { type: 'linear' as const, scheme: 'viridis' as const, label: 'Energy (J)', domain: [eMin, eMax] };
  const legendKey = JSON.stringify([eMin, eMax]);
  const key = JSON.stringify([width, logX, yDomain, d.front.knee, pts.map((q) => [q.x, q.y, q.e, q.p.cut]), base.map((q) => [q.x, q.y, q.label])]);

  if (!st || st.key !== key) {
    const chart = Plot.plot({
      width,
      height: 340,
      marginRight: 150,
      grid: true,
      x: { label: 'Latency (ms) →', type: logX ? 'log' : 'linear' },
      y: { label: '↑ Degradation (% of top-1)', zero: true, domain: yDomain },
      clip: true,
      color: colour,
      marks: [
        Plot.line(pts, { x: 'x', y: 'y', stroke: '#bbb', strokeWidth: 1 }),
        Plot.dot(pts, { x: 'x', y: 'y', fill: 'e', r: 5, stroke: 'white', title: (q: (typeof pts)[number]) => planTitle(q.p) + (q.knee ? '\n(knee)' : ''), className: 'front-dot' }),
        Plot.dot(base, { x: 'x', y: 'y', symbol: 'square', r: 5, stroke: '#333', fill: 'white', title: (q: (typeof base)[number]) => planTitle(q.p, q.label) + (q.feasible ? '' : '\n(violates a constraint)'), className: 'baseline-dot' }),
        Plot.text(base, { x: 'x', y: 'y', text: 'label', dx: 9, textAnchor: 'start', fontSize: 10, fill: '#333' }),
        Plot.dot(knee, { x: 'x', y: 'y', r: 10, stroke: '#000', strokeDasharray: '2,2', fill: 'none' }),
        Plot.text(knee, { x: 'x', y: 'y', text: () => 'knee', dy: -15, fontSize: 10 }),
      ],
    }) as unknown as SVGSVGElement & Plot.Plot;
    const sx = chart.scale('x')!;
    const sy = chart.scale('y')!;
    const legend = st && st.legendKey === legendKey ? st.legend : (Plot.legend({ color: colour }) as Element | undefined) ?? null;
    const overlay = svgEl('g', { class: 'pareto-overlay', 'pointer-events': 'none' });
    chart.append(overlay);
    const wrap = h('div', { class: 'pareto-chart' });
    if (legend) wrap.append(legend);
    wrap.append(chart);
    const next: ChartState = {
      key,
      legendKey,
      summary,
      wrap,
      legend,
      chart,
      overlay,
      sx: (v) => sx.apply!(v) as number,
      sy: (v) => sy.apply!(v) as number,
      xRange: sx.range as [number, number],
      yRange: sy.range as [number, number],
      all,
      onSelect,
    };
    chart.style.cursor = 'crosshair';
    // Click: the nearest front point or baseline within 14 px of the pointer.
    chart.addEventListener('click', (ev) => {
      const r = chart.getBoundingClientRect();
      const k = Number(chart.getAttribute('width')) / r.width || 1;
      const mx = (ev.clientX - r.left) * k;
      const my = (ev.clientY - r.top) * k;
      let best: Plan | null = null;
      let bestD = 14;
      for (const q of next.all) {
        const dist = Math.hypot(next.sx(q.x) - mx, next.sy(q.y) - my);
        if (dist < bestD) {
          bestD = dist;
          best = q.p;
        }
      }
      if (best) next.onSelect(best);
    });
    clear(container);
    container.append(summary, wrap);
    st = next;
    states.set(container, st);
  } else {
    st.summary.replaceWith(summary);
    st.summary = summary;
    while (st.wrap.nextSibling) st.wrap.nextSibling.remove();
    st.all = all;
    st.onSelect = onSelect;
  }
  if (clipped) summary.append(` ${clipped} plans above ${fmt(yTop, 3)}% degradation are off the chart.`);
  drawOverlay(st, d, Math.max(...all.map((q) => q.x)));

  if (!d.selected) return null;
  const details = planDetails(d.selected, d.layerNames, d.selectedBy);
  if (extra) details.append(extra);
  container.append(details);
  return details;
}

/** The budget rule with its label and the selected plan's ring, in the chart's coordinates. */
function drawOverlay(st: ChartState, d: ParetoData, xMax: number): void {
  const [y0, y1] = [Math.min(...st.yRange), Math.max(...st.yRange)];
  const [x0, x1] = [Math.min(...st.xRange), Math.max(...st.xRange)];
  const inside = (x: number, y: number) => x >= x0 - 0.5 && x <= x1 + 0.5 && y >= y0 - 0.5 && y <= y1 + 0.5;
  const nodes: SVGElement[] = [];
  const by = st.sy(100 * d.budget);
  if (by >= y0 - 0.5 && by <= y1 + 0.5) {
    nodes.push(svgEl('line', { class: 'budget-rule', x1: x0, x2: x1, y1: by, y2: by, stroke: '#c0392b', 'stroke-dasharray': '5,4' }));
    const label = svgEl('text', { x: st.sx(xMax), y: by, dy: -6, 'text-anchor': 'end', fill: '#c0392b', 'font-size': 10 });
    label.textContent = 'budget';
    nodes.push(label);
  }
  if (d.selected) {
    const x = st.sx(d.selected.latencyMs);
    const y = st.sy(100 * d.selected.degradation);
    if (inside(x, y)) {
      const g = svgEl('g', { class: 'selected-dot' });
      g.append(svgEl('circle', { cx: x, cy: y, r: 9, stroke: '#e6550d', 'stroke-width': 2.5, fill: 'none' }));
      nodes.push(g);
    }
  }
  st.overlay.replaceChildren(...nodes);
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
