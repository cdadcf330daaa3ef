/**
 * The markup a headless plot cell returns, checked before anything keeps it: the plot process ran untrusted code
 * and may answer anything. It must be one `<svg>` or `<figure>` element within the size limit; it is parsed with
 * linkedom and cleaned with the workbench's own policy (core/notebook/plotMarkup.ts), then serialised again, so a
 * report embeds what the page would show.
 */
import { parseHTML } from 'linkedom';
import { CoreError } from '../api/errors.js';
import { sanitizeAttributes, sanitizeChildren, type MarkupElement } from '../notebook/plotMarkup.js';

/** The most SVG a plot cell may produce (UTF-8 bytes). */
export const PLOT_MAX_BYTES = 5 * 1024 * 1024;

export interface PlotMarkup {
  /** The cleaned markup: one `<svg>` element, or a `<figure>` (Plot adds one for a title, caption or legend). */
  svg: string;
  root: 'svg' | 'figure';
  bytes: number;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

type LinkedomElement = MarkupElement & { outerHTML: string; children: ArrayLike<LinkedomElement>; hasAttribute(n: string): boolean; setAttribute(n: string, v: string): void };

function parseRoot(markup: string): LinkedomElement | null {
  const { document } = parseHTML(`<!doctype html><html><head></head><body>${markup}</body></html>`);
  const body = document.body as unknown as { children: ArrayLike<LinkedomElement>; childNodes: ArrayLike<{ nodeType: number; textContent: string | null }> };
  const stray = Array.from(body.childNodes).some((n) => n.nodeType !== 1 && !(n.nodeType === 3 && !(n.textContent ?? '').trim()));
  if (body.children.length !== 1 || stray) return null;
  return body.children[0];
}

/** Checks and cleans what a plot cell returned; a CoreError says what is wrong with it. */
export function cleanPlotMarkup(raw: unknown, maxBytes = PLOT_MAX_BYTES): PlotMarkup {
  if (typeof raw !== 'string') throw new CoreError('plot-invalid-result', `The plot process answered ${typeof raw} instead of SVG markup. Return a Plot figure (Plot.plot(…) or mark.plot(…)) or a mark.`);
  const rawBytes = Buffer.byteLength(raw, 'utf8');
  if (rawBytes > maxBytes) throw new CoreError('plot-too-large', `The plot is ${mb(rawBytes)} of SVG, over the ${mb(maxBytes)} limit. Draw fewer marks: sample, bin or aggregate the data first.`);
  const text = raw.trim();
  if (!/^<(svg|figure)[\s>]/.test(text)) throw new CoreError('plot-invalid-result', `The plot code's result is not an <svg> or <figure> element (it starts ${JSON.stringify(text.slice(0, 20))}). Return a Plot figure (Plot.plot(…) or mark.plot(…)) or a mark.`);
  const root = parseRoot(text);
  const tag = root?.localName.toLowerCase();
  if (!root || (tag !== 'svg' && tag !== 'figure')) throw new CoreError('plot-invalid-result', `The plot code's result is not one <svg> or <figure> element (there is markup beside it). Return a Plot figure (Plot.plot(…) or mark.plot(…)) or a mark.`);
  sanitizeAttributes(root);
  sanitizeChildren(root);
  const svg = root.outerHTML;
  return { svg, root: tag, bytes: Buffer.byteLength(svg, 'utf8') };
}

/**
 * A standalone .svg file of a cleaned plot (for Markdown reports): the `<svg>` itself, or a figure's chart (its last
 * `<svg>`; the figure's title and HTML legend are left out), with the SVG namespace that a file needs.
 */
export function standaloneSvg(markup: string): string {
  const root = parseRoot(markup);
  if (!root) throw new Error('standaloneSvg: not one element (clean the markup first)');
  let svg: LinkedomElement | undefined = root.localName.toLowerCase() === 'svg' ? root : undefined;
  if (!svg) svg = Array.from(root.children).filter((c) => c.localName.toLowerCase() === 'svg').pop();
  if (!svg) throw new Error('standaloneSvg: the figure holds no <svg>');
  if (!svg.hasAttribute('xmlns')) svg.setAttribute('xmlns', SVG_NS);
  return svg.outerHTML;
}
