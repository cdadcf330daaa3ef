/**
 * The model view: a strip of the graph in topological order with each head layer coloured by its weight bits and
 * the cut marked, the sensitivity heat map (layer x bits) with the controls that measure it, and the layer table
 * (models.layers).
 */
import type { ModelValue } from '../../core/notebook/cells.js';
import { clear, h } from '../dom.js';
import { bitsColour } from './pareto.js';
import { heatMap } from './sensitivity.js';

/** What a `{"view": "model"}` cell computes (core/notebook/cells.ts). */
export type ModelViewData = ModelValue;

/** `sensitivityPanel`: the cell's measuring controls (kept across renders), shown under the heat map. */
export function renderModel(container: HTMLElement, d: ModelViewData, sensitivityPanel?: HTMLElement): void {
  clear(container);
  const L = d.layerNames.length;
  const cut = d.plan?.cut ?? null;
  const strip = h('div', { class: 'graph-strip', 'data-cut': cut ?? '' });
  d.layerNames.forEach((name, i) => {
    const onDevice = cut !== null && i < cut;
    const bit = onDevice ? d.plan!.bits[i] : null;
    strip.append(
      h('span', {
        class: `layer-box ${onDevice ? 'head' : 'tail'}`,
        style: onDevice ? `background:${bitsColour(bit!)}` : '',
        title: `${i + 1}. ${name}${onDevice ? ` — device, ${bit} bit` : ' — server'}`,
      }),
    );
    if (cut !== null && i + 1 === cut && cut < L) strip.append(h('span', { class: 'cut-marker', title: `cut after layer ${cut}` }));
  });
  const legend = h('p', { class: 'muted' }, `${d.model ?? 'Planning problem'}: ${L} layers; `, cut === null ? 'no plan selected.' : `layers 1–${cut} on the device (coloured by weight bits), the rest on the server (grey).`);
  container.append(legend, strip);
  const heat = heatMap(d);
  if (heat || sensitivityPanel) container.append(h('div', { class: 'sensitivity' }, h('h5', {}, 'Sensitivity'), heat, sensitivityPanel));
  if (d.layers) {
    const rows = d.layers.map((l) => {
      const i = l.position - 1;
      const bit = cut !== null && i < cut ? d.plan!.bits[i] : null;
      return h(
        'tr',
        { class: cut !== null && i < cut ? 'head' : '' },
        h('td', {}, l.position),
        h('td', {}, l.name),
        h('td', {}, l.opType),
        h('td', {}, l.weightInputs.length ? l.weightInputs.length : ''),
        h('td', {}, bit === null ? (cut !== null ? 'server' : '') : h('span', { class: 'bit-chip', style: `background:${bitsColour(bit)}` }, String(bit))),
      );
    });
    container.append(
      h(
        'details',
        { class: 'layer-table' },
        h('summary', {}, `Layer table (${d.layers.length} layers)`),
        h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, 'name'), h('th', {}, 'op'), h('th', {}, 'weights'), h('th', {}, 'bits'))), h('tbody', {}, ...rows)),
      ),
    );
  }
}
