/**
 * What a plot cell's markup may keep, wherever it is shown: the workbench parses it with the page's DOMParser, the
 * CLI's reports with linkedom. Plot code is the notebook author's, but a notebook is a file that travels (git,
 * experiments/), so its output is treated as untrusted markup: scripts, embedded documents, event handlers and
 * references to anything outside the SVG are dropped; shapes, text and styles stay. One policy for both, so the
 * report cannot keep what the page would drop.
 */

/** The structural subset of a DOM element the walk needs (the page's Element and linkedom's both fit). */
export interface MarkupElement {
  readonly localName: string;
  readonly children: ArrayLike<MarkupElement>;
  readonly attributes: ArrayLike<{ readonly name: string; readonly value: string }>;
  readonly textContent: string | null;
  remove(): void;
  removeAttribute(name: string): void;
}

const DROP_ELEMENTS = new Set(['script', 'foreignobject', 'iframe', 'object', 'embed', 'link', 'meta', 'base', 'animate', 'set', 'use']);
const UNSAFE_CSS = /url\s*\(|@import|expression/i;

/** True when an element (with its subtree) must go. */
export function dropsElement(el: Pick<MarkupElement, 'localName' | 'textContent'>): boolean {
  const tag = el.localName.toLowerCase();
  return DROP_ELEMENTS.has(tag) || (tag === 'style' && UNSAFE_CSS.test(el.textContent ?? ''));
}

/** True when an attribute must go: event handlers, links out of the document, styles that load or compute. */
export function dropsAttribute(name: string, value: string): boolean {
  const n = name.toLowerCase();
  const v = value.trim().toLowerCase();
  if (n.startsWith('on')) return true;
  if ((n === 'href' || n.endsWith(':href') || n === 'src') && !v.startsWith('#')) return true;
  return n === 'style' && UNSAFE_CSS.test(v);
}

/** Removes, below `root` (not `root` itself), every element and attribute the policy drops. */
export function sanitizeChildren(root: MarkupElement): void {
  for (const child of Array.from(root.children)) {
    if (dropsElement(child)) {
      child.remove();
      continue;
    }
    sanitizeAttributes(child);
    sanitizeChildren(child);
  }
}

/** Removes the attributes of `el` (only) that the policy drops. */
export function sanitizeAttributes(el: MarkupElement): void {
  for (const a of Array.from(el.attributes).map((x) => ({ name: x.name, value: x.value }))) {
    if (dropsAttribute(a.name, a.value)) el.removeAttribute(a.name);
  }
}
