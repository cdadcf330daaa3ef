/**
 * The plot process: one plot cell's Observable Plot code, drawn headless for `partita notebook run`. plotProcess.ts
 * starts it, one short-lived process per cell. The build bundles this file with Plot and linkedom into one file,
 * dist/plotChild.mjs, so Node's permission model can let the process read that file and nothing else.
 *
 * The contract is the workbench's plot worker's (renderer/plot/plotWorker.ts): the code is the body of
 * `function (Plot, data, document) { "use strict"; … }`, `data` holds the values of the cells it reads
 * (`// reads: id`), and it returns a Plot figure (Plot.plot(…), mark.plot(…)) or a mark (or an array of marks),
 * which is drawn with default options.
 *
 * Protocol: stdin is one JSON document `{ code, data }`; stdout is JSON lines: `{"ready": true}` once Plot is
 * loaded and the input read (the parent's 3 s for the code start then), then `{"svg": markup}` or
 * `{"error": text, "kind": "compile" | "code" | "result" | "input"}`. The parent checks and sanitises the markup: this process runs untrusted code and may lie.
 *
 * What confines the code:
 * - The boundary is Node's permission model, set by the parent's flags: reading only this bundle, no writes, no
 *   child processes, no worker threads, no native addons, no WASI; `--disallow-code-generation-from-strings`; an
 *   empty environment; killed (SIGKILL) when it overruns.
 * - node:vm is NOT a security boundary: the code runs in a fresh context whose only globals are Plot, document and
 *   data (plus JavaScript's built-ins and V8's console, which writes nowhere), so it is not handed fetch, process,
 *   require or timers; but objects of this realm are reachable from it (linkedom's `document.defaultView` is a
 *   proxy of this process's globalThis, for one). Code that escapes that way meets the permission model.
 * - Node 20's permission model has no network permission. The network globals are removed below, but escaped code
 *   can still reach node:net/http through `process`: headless plot cells are not cut off from the network the way
 *   the workbench's worker is (its page CSP is). Run notebooks from sources you trust with network access.
 */
import * as Plot from '@observablehq/plot';
import { parseHTML } from 'linkedom';
import { Script, createContext, runInContext } from 'node:vm';

const stdout = process.stdout;
const exit = (code: number) => process.exit(code);

function send(message: object, then?: () => void): void {
  stdout.write(JSON.stringify(message) + '\n', then);
}

const { document } = parseHTML('<!doctype html><html><head></head><body></body></html>');
// Plot finds its document through `window.document` unless the options name one (mark.plot(…) never does).
(globalThis as Record<string, unknown>).window = { document };

// Not a boundary (see above): just not within easy reach through document.defaultView.
for (const name of ['fetch', 'Request', 'Response', 'Headers', 'FormData', 'WebSocket', 'EventSource', 'XMLHttpRequest']) {
  try {
    delete (globalThis as Record<string, unknown>)[name];
  } catch {
    // A non-configurable global stays; the permission flags are what hold.
  }
}

/** `Name [CODE]: message (at line N)`, from an error of any realm (instanceof does not cross realms). */
function describeError(e: unknown): string {
  try {
    if (!e || typeof e !== 'object') return `thrown value ${String(e)}`;
    const err = e as { name?: unknown; message?: unknown; code?: unknown; permission?: unknown; resource?: unknown; stack?: unknown };
    const name = typeof err.name === 'string' ? err.name : 'Error';
    const code = typeof err.code === 'string' ? ` [${err.code}]` : '';
    const what = typeof err.permission === 'string' ? ` (${err.permission}${typeof err.resource === 'string' && err.resource ? ` '${err.resource}'` : ''})` : '';
    const line = typeof err.stack === 'string' ? /plot-cell\.js:(\d+)/.exec(err.stack)?.[1] : undefined;
    return `${name}${code}: ${String(err.message)}${what}${line ? ` (at line ${line})` : ''}`;
  } catch {
    return 'an error that cannot be described';
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object (${Object.keys(v as object).slice(0, 5).join(', ') || 'no keys'})`;
  return typeof v === 'undefined' ? 'undefined' : `a ${typeof v}`;
}

/** The code ran but returned something that is not a plot. */
class NotAPlot extends Error {}

function toMarkup(value: unknown): string {
  let v = value;
  if (v && typeof v === 'object' && !('outerHTML' in v)) {
    // A mark or an array of marks: drawn with default options, as in the workbench.
    try {
      v = Plot.plot({ marks: Array.isArray(v) ? v : [v as Plot.Markish], document } as Plot.PlotOptions);
    } catch (e) {
      throw new NotAPlot(`${typeName(value)}, which Plot cannot draw as marks (${describeError(e)})`);
    }
  }
  const markup = v && typeof v === 'object' && 'outerHTML' in v ? String((v as { outerHTML: unknown }).outerHTML) : '';
  if (!/^<(svg|figure)[\s>]/.test(markup)) throw new NotAPlot(markup ? `a <${/^<([\w:-]*)/.exec(markup)?.[1] || '?'}> element` : typeName(value));
  return markup;
}

function run(input: string): void {
  let code: string;
  let data: string;
  try {
    const msg = JSON.parse(input) as { code?: unknown; data?: unknown };
    if (typeof msg.code !== 'string') throw new Error('no code');
    code = msg.code;
    data = JSON.stringify(msg.data ?? {});
  } catch (e) {
    send({ error: describeError(e), kind: 'input' }, () => exit(2));
    return;
  }
  const context = createContext({ Plot, document }, { name: 'plot cell', codeGeneration: { strings: false, wasm: false } });
  // Parsed in the context, so `data` is made of the context's own objects and arrays.
  const parse = runInContext('JSON.parse', context) as (text: string) => unknown;
  context.data = parse(data);
  let fn: (plot: typeof Plot, data: unknown, doc: unknown) => unknown;
  try {
    // The worker's wrapper exactly; lineOffset makes line numbers in errors the cell's own.
    fn = new Script(`(function (Plot, data, document) {\n"use strict";\n${code}\n})`, { filename: 'plot-cell.js', lineOffset: -2 }).runInContext(context);
  } catch (e) {
    send({ ready: true });
    send({ error: describeError(e), kind: 'compile' }, () => exit(0));
    return;
  }
  send({ ready: true });
  let markup: string;
  try {
    markup = toMarkup(fn(Plot, context.data, document));
  } catch (e) {
    send(e instanceof NotAPlot ? { error: e.message, kind: 'result' } : { error: describeError(e), kind: 'code' }, () => exit(0));
    return;
  }
  send({ svg: markup }, () => exit(0));
}

const chunks: Buffer[] = [];
process.stdin.on('data', (c: Buffer) => chunks.push(c));
process.stdin.on('end', () => run(Buffer.concat(chunks).toString('utf8')));
