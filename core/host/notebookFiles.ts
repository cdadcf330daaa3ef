import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Notebook } from '../api/contract.js';
import { CoreError } from '../api/errors.js';
import { parseNotebook, serializeNotebook } from '../notebook/format.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { writeFileAtomic } from './quantize.js';

/**
 * Notebooks between the store (where the workbench saves them) and text files (what goes into git): import a
 * file as a new saved notebook, export a saved one as a file, duplicate one. Files are checked like any notebook
 * file (notebook-invalid, notebook-too-new) and written whole.
 */
export function readNotebookFile(file: string): Notebook {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CoreError('notebook-not-found', `No notebook file '${file}'. Check the path (notebooks are *.notebook.json files, e.g. experiments/tour/tour.notebook.json).`);
    throw new CoreError('notebook-unreadable', `Cannot read notebook '${file}' (${(e as Error).message}). Check that it is a readable file.`);
  }
  return parseNotebook(text, file);
}

function requireSaved(store: SqliteStore, id: string) {
  const n = store.getNotebook(id);
  if (!n) {
    const known = store.listNotebooks().map((x) => `${x.id} (${x.name})`);
    throw new CoreError('notebook-unknown', `No saved notebook '${id}'. Saved notebooks: ${known.join(', ') || 'none'}.`);
  }
  return n;
}

export function importNotebookFile(store: SqliteStore, file: string, name?: string): { id: string; name: string; cells: number } {
  const nb = readNotebookFile(file);
  const saved = store.saveNotebook({ id: randomUUID().slice(0, 8), name: name ?? nb.name, cells: nb.cells });
  return { id: saved.id, name: saved.name, cells: saved.cells.length };
}

export function exportNotebookFile(store: SqliteStore, id: string, file: string): { id: string; file: string; bytes: number } {
  const n = requireSaved(store, id);
  const text = serializeNotebook({ name: n.name, cells: n.cells as Notebook['cells'] });
  return { id, file: writeFileAtomic(file, text), bytes: Buffer.byteLength(text) };
}

export function duplicateNotebook(store: SqliteStore, id: string, name?: string): { id: string; name: string } {
  const n = requireSaved(store, id);
  const copy = store.saveNotebook({ id: randomUUID().slice(0, 8), name: name ?? `${n.name} (copy)`, cells: n.cells });
  return { id: copy.id, name: copy.name };
}
