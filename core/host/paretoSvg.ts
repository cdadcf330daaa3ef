import * as Plot from '@observablehq/plot';
import { parseHTML } from 'linkedom';
import type { Plan } from '../api/planning.js';
import type { Baselines } from '../plan/baselines.js';

/**
 * The Pareto front as a standalone SVG for files and reports (`partita pareto --svg`, export's report.html):
 * latency against predicted degradation, coloured by device energy, the knee ringed, baselines as labelled squares.
 * Rendered server-side by Observable Plot on a linkedom document.
 */
export function paretoSvg(plans: readonly Plan[], knee: number, baselines?: Baselines, title = 'Pareto front'): string {
  const { document } = parseHTML('<!doctype html><html><body></body></html>');
  const pts = plans.map((p, i) => ({ latencyMs: p.latencyMs, degradationPct: 100 * p.degradation, energyJ: p.energyJ, knee: i === knee, cut: p.cut }));
  const base = Object.values(baselines ?? {})
    .filter((b): b is NonNullable<typeof b> => b !== null)
    .map((b) => ({ latencyMs: b.latencyMs, degradationPct: 100 * b.degradation, label: b.label }));
  const chart = Plot.plot({
    document,
    width: 720,
    height: 420,
    marginLeft: 60,
    marginRight: 190,
    x: { label: 'latency (ms)', type: 'log', grid: true },
    y: { label: 'predicted top-1 drop (%)', grid: true },
    // A colour ramp legend needs a canvas, which a server-side document lacks; the caption names the scale.
    color: { label: 'device energy (J)', scheme: 'viridis' },
    marks: [
      Plot.line(pts, { x: 'latencyMs', y: 'degradationPct', stroke: '#bbb' }),
      Plot.dot(pts, { x: 'latencyMs', y: 'degradationPct', fill: 'energyJ', r: 5, stroke: 'white', title: (d: (typeof pts)[number]) => `cut ${d.cut}` }),
      Plot.dot(
        pts.filter((p) => p.knee),
        { x: 'latencyMs', y: 'degradationPct', r: 10, stroke: 'black', fill: 'none' },
      ),
      Plot.dot(base, { x: 'latencyMs', y: 'degradationPct', symbol: 'square', r: 5, stroke: '#333', fill: 'white' }),
      Plot.text(base, { x: 'latencyMs', y: 'degradationPct', text: 'label', dx: 8, textAnchor: 'start', fontSize: 10 }),
    ],
  });
  const svg = (chart as unknown as { outerHTML: string }).outerHTML;
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const withNs = svg.includes('xmlns=') ? svg : svg.replace('<svg', '<svg xmlns="http://www.w3.org/2000/svg"');
  // A <title> for viewers and screen readers; the colour scale is described there since there is no legend.
  return withNs.replace(/(<svg[^>]*>)/, `$1<title>${esc(title)} (colour: device energy, viridis, low = dark)</title>`);
}
