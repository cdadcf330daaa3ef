/**
 * The notebook file format (`*.notebook.json`): the contract's NotebookSchema as pretty-printed JSON, one key per
 * line, and (format 2) a multi-line cell source as an array of its lines, so a notebook under experiments/ diffs
 * line by line in git. Reading a file checks, in order: that it is JSON, that
 * its `format` is one this core reads (a file without `format` is format 1), and that it has the notebook's shape;
 * each failure is a CoreError that says what is wrong and what to do.
 */
import { NOTEBOOK_FORMAT, NotebookSchema, NOTEBOOK_CELL_KINDS, type Notebook } from '../api/contract.js';
import { CoreError } from '../api/errors.js';

export { NOTEBOOK_FORMAT };

const SHAPE = `A notebook is {"format": ${NOTEBOOK_FORMAT}, "name": "…", "cells": [{"id": "…", "kind": "${NOTEBOOK_CELL_KINDS.join('" | "')}", "source": "…"}]}.`;

/** A file's cell sources given as arrays of lines (format 2) become the strings the contract holds. */
function joinSourceLines(json: object): unknown {
  const cells = (json as { cells?: unknown }).cells;
  if (!Array.isArray(cells)) return json;
  return {
    ...json,
    cells: cells.map((c: unknown) => {
      const source = (c as { source?: unknown } | null)?.source;
      return Array.isArray(source) && source.every((l) => typeof l === 'string') ? { ...(c as object), source: source.join('\n') } : c;
    }),
  };
}

/**
 * Parses the text of a notebook file. `name` is how messages refer to it (the file path).
 * Errors: `notebook-invalid` (not JSON, or not a notebook), `notebook-too-new` (a newer format).
 */
export function parseNotebook(text: string, name = 'notebook'): Notebook {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CoreError('notebook-invalid', `Notebook '${name}' is not valid JSON (${(e as Error).message}). Fix the file, or restore it from version control.`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CoreError('notebook-invalid', `Notebook '${name}' is not a notebook: it holds ${Array.isArray(json) ? 'an array' : json === null ? 'null' : `a ${typeof json}`}, not an object with "name" and "cells". ${SHAPE}`);
  }
  const format = (json as { format?: unknown }).format;
  if (typeof format === 'number' && Number.isInteger(format) && format > NOTEBOOK_FORMAT) {
    throw new CoreError(
      'notebook-too-new',
      `Notebook '${name}' has format ${format}, but this Partita reads format ${NOTEBOOK_FORMAT} and older. Update Partita to open it.`,
      { format, supported: NOTEBOOK_FORMAT },
    );
  }
  const r = NotebookSchema.safeParse(joinSourceLines(json));
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue.path.length ? issue.path.join('.') : 'the top level';
    throw new CoreError(
      'notebook-invalid',
      `Notebook '${name}' is not a valid notebook: at ${where}: ${issue.message.replace(/\.$/, '')}. ${SHAPE}`,
      { path: issue.path.map(String) },
    );
  }
  return r.data;
}

/**
 * The text of a notebook file: the current format, the name and the cells (id, kind, source), two-space indented
 * with a final newline. The store's id is left out: it names a row in one database, not the document.
 */
export function serializeNotebook(nb: Pick<Notebook, 'name' | 'cells'>): string {
  const doc = { format: NOTEBOOK_FORMAT, name: nb.name, cells: nb.cells.map((c) => ({ id: c.id, kind: c.kind, source: c.source.includes('\n') ? c.source.split('\n') : c.source })) };
  return JSON.stringify(doc, null, 2) + '\n';
}
