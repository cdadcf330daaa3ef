/** Tiny DOM helpers: the renderer builds its UI with plain DOM calls, never innerHTML with data. */
export type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | boolean | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, ...children);
  return el;
}

export function append(el: Element | DocumentFragment, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

/** A number for a table: up to 4 significant digits, exponent for the very small or large. */
export function fmt(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a < 1e-3 || a >= 1e7) return x.toExponential(digits - 1);
  return Number(x.toPrecision(digits)).toString();
}

export function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** An error box shown in place of a cell's output. */
export function errorBox(e: unknown): HTMLElement {
  const err = e as { code?: string; message?: string };
  return h('div', { class: 'error', role: 'alert' }, err.code ? h('code', {}, err.code) : null, err.code ? ' ' : null, err.message ?? String(e));
}
