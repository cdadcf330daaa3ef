import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NotebookSchema } from '../../core/api/contract.js';
import { CoreError } from '../../core/api/errors.js';
import { NOTEBOOK_FORMAT, parseNotebook, serializeNotebook } from '../../core/notebook/format.js';
import { ROOT } from '../helpers.js';

const TOUR = join(ROOT, 'experiments/tour/tour.notebook.json');

function failure(text: string): CoreError {
  try {
    parseNotebook(text, 'x.notebook.json');
  } catch (e) {
    expect(e).toBeInstanceOf(CoreError);
    return e as CoreError;
  }
  throw new Error('expected parseNotebook to throw');
}

describe('notebook file format', () => {
  it('reads the tour, and writes it back as the same text', () => {
    const text = readFileSync(TOUR, 'utf8');
    const nb = parseNotebook(text, TOUR);
    expect(nb.format).toBe(NOTEBOOK_FORMAT);
    expect(nb.cells.map((c) => c.id)).toEqual(['intro', 'cut', 'plan', 'bits', 'front', 'model', 'payloadText', 'payload', 'models', 'runText', 'run', 'measuredText', 'measured', 'devicesText', 'devices']);
    expect(serializeNotebook(nb)).toBe(text);
  });

  it('writes multi-line sources as arrays of lines and reads them back as the same strings', () => {
    const nb = { name: 'n', cells: [{ id: 'a', kind: 'markdown' as const, source: '# one\ntwo\n' }, { id: 'b', kind: 'query' as const, source: 'SELECT 1' }] };
    const text = serializeNotebook(nb);
    expect(JSON.parse(text).cells.map((c: { source: unknown }) => c.source)).toEqual([['# one', 'two', ''], 'SELECT 1']);
    expect(parseNotebook(text).cells.map((c) => c.source)).toEqual(['# one\ntwo\n', 'SELECT 1']);
    expect(failure(JSON.stringify({ format: 2, name: 'n', cells: [{ id: 'a', kind: 'markdown', source: ['ok', 3] }] })).code).toBe('notebook-invalid');
  });

  it('a file without "format" is format 1 (files written before the field existed)', () => {
    const nb = parseNotebook(JSON.stringify({ name: 'old', cells: [{ id: 'a', kind: 'markdown', source: '# hi' }] }));
    expect(nb.format).toBe(1);
    expect(JSON.parse(serializeNotebook(nb))).toEqual({ format: NOTEBOOK_FORMAT, name: 'old', cells: [{ id: 'a', kind: 'markdown', source: '# hi' }] });
  });

  it('corrupt JSON: notebook-invalid, naming the file and what to do', () => {
    const e = failure('{"name": "x", "cells": [');
    expect(e.code).toBe('notebook-invalid');
    expect(e.message).toMatch(/^Notebook 'x\.notebook\.json' is not valid JSON \(.+\)\. Fix the file, or restore it from version control\.$/);
    expect(failure('').code).toBe('notebook-invalid');
  });

  it('a newer format: notebook-too-new, saying which format this version reads', () => {
    const e = failure(JSON.stringify({ format: NOTEBOOK_FORMAT + 1, name: 'future', cells: [{ id: 'a', kind: 'hologram', source: '' }] }));
    expect(e.code).toBe('notebook-too-new');
    expect(e.message).toBe(`Notebook 'x.notebook.json' has format ${NOTEBOOK_FORMAT + 1}, but this Partita reads format ${NOTEBOOK_FORMAT} and older. Update Partita to open it.`);
    expect(e.details).toEqual({ format: NOTEBOOK_FORMAT + 1, supported: NOTEBOOK_FORMAT });
  });

  it('the wrong shape: notebook-invalid, with the path of the first bad field', () => {
    const cases: [unknown, RegExp, string[]][] = [
      [[], /holds an array, not an object with "name" and "cells"/, []],
      ['notebook', /holds a string/, []],
      [{ name: 'n' }, /at cells: /, ['cells']],
      [{ name: 'n', cells: [{ id: 'a', kind: 'hologram', source: '' }] }, /at cells\.0\.kind: /, ['cells', '0', 'kind']],
      [{ name: 'n', cells: [{ id: 'has space', kind: 'markdown', source: '' }] }, /at cells\.0\.id: a cell id is 1 to 64 letters/, ['cells', '0', 'id']],
      [{ name: 'n', cells: [{ id: 'a', kind: 'markdown', source: '' }, { id: 'a', kind: 'query', source: '' }] }, /at cells\.1\.id: duplicate cell id "a"/, ['cells', '1', 'id']],
      [{ name: 'n', cells: [], extra: 1 }, /at the top level: /, []],
      [{ format: 'one', name: 'n', cells: [] }, /at format: /, ['format']],
      [{ format: 0, name: 'n', cells: [] }, /at format: /, ['format']],
    ];
    for (const [doc, message, path] of cases) {
      const e = failure(JSON.stringify(doc));
      expect(e.code, JSON.stringify(doc)).toBe('notebook-invalid');
      expect(e.message).toMatch(message);
      expect(e.message).toMatch(/A notebook is \{"format": 2, "name": "…", "cells": \[\{"id": "…", "kind": "markdown" \| "settings" \| "query" \| "plot" \| "run", "source": "…"\}\]\}\.$/);
      if (path.length) expect(e.details).toEqual({ path });
    }
  });

  it('the API refuses a notebook of a newer format too', () => {
    const r = NotebookSchema.safeParse({ format: NOTEBOOK_FORMAT + 1, name: 'n', cells: [] });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0].message).toMatch(/reads notebook format 2 and older; update Partita/);
  });
});
