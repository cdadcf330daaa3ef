/**
 * The plot worker's library (bundled to dist/renderer/plot.worker.js): Observable Plot over a linkedom document,
 * since a worker has no DOM. The page builds a blob worker whose source imports this file and then hands the
 * user's code to `self.partitaPlot.start`, so the user's code never runs in the page and needs no eval (the CSP
 * forbids it). Before the user's code runs, every way out of the worker is removed: no fetch, XHR, WebSocket,
 * importScripts, nested workers. The result is SVG markup (or an error) sent back by postMessage.
 */
import * as Plot from '@observablehq/plot';
import { parseHTML } from 'linkedom';

type UserCode = (plot: typeof Plot, data: unknown, document: Document) => unknown;

const scope = self as unknown as Record<string, unknown> & { postMessage(m: unknown): void; onmessage: ((e: MessageEvent) => void) | null };
const { document } = parseHTML('<!doctype html><html><head></head><body></body></html>');
// Plot finds its document through `window.document` unless told otherwise.
scope.window = { document };
scope.document = document;

function lockDown(): void {
  for (const name of ['fetch', 'XMLHttpRequest', 'WebSocket', 'EventSource', 'importScripts', 'Worker', 'SharedWorker', 'WebTransport', 'indexedDB', 'caches']) {
    try {
      Object.defineProperty(scope, name, { value: undefined, writable: false, configurable: false });
    } catch {
      // Some globals are not configurable in some engines; the CSP still limits them to this origin.
    }
  }
}

function toMarkup(value: unknown): string {
  let v = value;
  if (v && typeof v === 'object' && !('outerHTML' in v)) {
    // A mark or an array of marks: render it with default options.
    v = Plot.plot({ marks: Array.isArray(v) ? v : [v as Plot.Markish], document } as Plot.PlotOptions);
  }
  if (v && typeof v === 'object' && 'outerHTML' in v) return String((v as { outerHTML: string }).outerHTML);
  throw new Error('The plot code must return a Plot figure (Plot.plot(…) or mark.plot(…)) or a mark.');
}

scope.partitaPlot = {
  start(code: UserCode): void {
    lockDown();
    scope.onmessage = (e: MessageEvent) => {
      const { id, data } = e.data as { id: number; data: unknown };
      try {
        scope.postMessage({ id, svg: toMarkup(code(Plot, data, document as unknown as Document)) });
      } catch (err) {
        scope.postMessage({ id, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
      }
    };
    scope.postMessage({ ready: true });
  },
};
