/**
 * Runs a plot cell's Observable Plot code in a Web Worker built from a blob: the worker imports the bundled Plot
 * (plot.worker.js, same origin, allowed by the CSP's script-src 'self') and wraps the user's code in a function,
 * so no eval is needed anywhere. The worker gets its data by postMessage and answers with SVG/HTML markup, which
 * is parsed inertly and sanitised before it enters the page. A worker that does not answer in time (an endless
 * loop) is terminated; the page never blocks on it.
 */
import { sanitizeChildren } from '../../core/notebook/plotMarkup.js';

export interface PlotRunOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class PlotTimeoutError extends Error {
  override readonly name = 'PlotTimeoutError';
}

export function workerSource(code: string, libraryUrl: string): string {
  return `importScripts(${JSON.stringify(libraryUrl)});\nself.partitaPlot.start(function (Plot, data, document) {\n"use strict";\n${code}\n});\n`;
}

export function runPlotCode(code: string, data: unknown, o: PlotRunOptions = {}): Promise<string> {
  const timeoutMs = o.timeoutMs ?? 3000;
  const libraryUrl = new URL('plot.worker.js', location.href).href;
  const blobUrl = URL.createObjectURL(new Blob([workerSource(code, libraryUrl)], { type: 'text/javascript' }));
  return new Promise<string>((resolve, reject) => {
    const worker = new Worker(blobUrl, { name: 'partita-plot' });
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      worker.terminate();
      URL.revokeObjectURL(blobUrl);
      o.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const timer = setTimeout(
      () => finish(() => reject(new PlotTimeoutError(`The plot code did not finish within ${timeoutMs} ms and was stopped (an endless loop?).`))),
      timeoutMs,
    );
    const onAbort = () => finish(() => reject(new DOMException('Superseded by a newer evaluation.', 'AbortError')));
    o.signal?.addEventListener('abort', onAbort);
    worker.onerror = (e) => {
      e.preventDefault();
      finish(() => reject(new Error(`The plot code does not run: ${e.message || 'syntax error'}.`)));
    };
    worker.onmessage = (e: MessageEvent) => {
      const m = e.data as { ready?: boolean; svg?: string; error?: string };
      if (m.ready) worker.postMessage({ id: 1, data });
      else if (typeof m.svg === 'string') finish(() => resolve(m.svg!));
      else finish(() => reject(new Error(`The plot code failed: ${m.error ?? 'unknown error'}`)));
    };
  });
}

/** Parses markup inertly (DOMParser runs no scripts) and keeps only presentational elements and attributes. */
export function sanitizeMarkup(markup: string): DocumentFragment {
  const doc = new DOMParser().parseFromString(`<body>${markup}</body>`, 'text/html');
  // The policy is shared with the CLI's reports (core/host/plotSvg.ts), so both keep the same things.
  sanitizeChildren(doc.body);
  const frag = document.createDocumentFragment();
  for (const n of [...doc.body.childNodes]) frag.appendChild(document.importNode(n, true));
  return frag;
}
