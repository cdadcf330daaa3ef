import { describe, expect, it } from 'vitest';
import { CellGraph, CellWaitingError, declaredReads, type CellState } from '../../core/notebook/graph.js';

const message = (s: CellState): string => (s.status === 'error' ? s.error.message : `(${s.status})`);
const value = (s: CellState): unknown => (s.status === 'ok' ? s.value : `(${s.status})`);

/** Resolves with what p resolves to, or rejects when it takes longer than ms (a cycle that never settles). */
function within<T>(p: Promise<T>, ms = 2000): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms))]);
}

describe('the notebook cell graph', () => {
  it('evaluates in dependency order and passes values along', async () => {
    const g = new CellGraph();
    g.define({ id: 'sum', reads: ['a', 'b'], evaluate: (i) => (i.a as number) + (i.b as number) });
    g.define({ id: 'a', reads: [], evaluate: async () => 2 });
    g.define({ id: 'b', reads: ['a'], evaluate: (i) => (i.a as number) * 10 });
    await within(g.evaluateAll());
    expect([g.state('a'), g.state('b'), g.state('sum')].map(value)).toEqual([2, 20, 22]);
  });

  it('a reference cycle: the cells on it fail and say so, the rest keeps working, evaluation settles', async () => {
    const g = new CellGraph();
    const runs: Record<string, number> = {};
    const cell = (id: string, reads: string[]) => g.define({ id, reads, evaluate: () => ((runs[id] = (runs[id] ?? 0) + 1), id) });
    cell('a', ['b']);
    cell('b', ['a']);
    cell('c', ['a']); // downstream of the cycle
    cell('self', ['self']);
    cell('ok', []);
    cell('okToo', ['ok']);
    await within(g.evaluateAll());
    expect(message(g.state('a'))).toMatch(/^Cells "a" and "b" read each other \(a cycle\)\. Remove one of the reads\.$/);
    expect(message(g.state('b'))).toMatch(/^Cells "b" and "a" read each other \(a cycle\)/);
    expect(message(g.state('self'))).toBe('Cell "self" reads itself.');
    const c = g.state('c');
    expect(c.status === 'error' && c.error).toBeInstanceOf(CellWaitingError);
    expect(message(c)).toBe('Waiting for cell "a" (it has no value: fix its error first).');
    expect(value(g.state('okToo'))).toBe('okToo');
    // Cells on the cycle never ran their code.
    expect(runs).toEqual({ ok: 1, okToo: 1 });

    // Breaking the cycle heals the cells on it and downstream.
    cell('b', []);
    await within(g.evaluate('b'));
    expect([g.state('a'), g.state('b'), g.state('c')].map(value)).toEqual(['a', 'b', 'c']);
  });

  it('a read of a missing cell is that cell\'s error', async () => {
    const g = new CellGraph();
    g.define({ id: 'q', reads: ['nope'], evaluate: () => 1 });
    await within(g.evaluateAll());
    expect(message(g.state('q'))).toBe('Cell "q" reads "nope", but there is no cell with that id.');
  });

  it('drops a stale answer: a slow evaluation that a newer one overtook never lands', async () => {
    const g = new CellGraph();
    let n = 0;
    g.define({ id: 'slow', reads: [], evaluate: () => new Promise((resolve) => { const k = ++n; setTimeout(() => resolve(k), k === 1 ? 50 : 1); }) });
    const first = g.evaluate('slow');
    const second = g.evaluate('slow');
    await within(Promise.all([first, second]));
    expect(value(g.state('slow'))).toBe(2);
  });

  it('a keepLast cell that fails keeps its last good value for its readers', async () => {
    const g = new CellGraph();
    let source = '1';
    g.define({ id: 's', reads: [], keepLast: true, evaluate: () => { const v = JSON.parse(source); return v; } });
    g.define({ id: 'd', reads: ['s'], evaluate: (i) => (i.s as number) + 1 });
    await within(g.evaluateAll());
    source = '{broken';
    await within(g.evaluate('s'));
    expect(g.state('s').status).toBe('error');
    expect(value(g.state('d'))).toBe(2);
    expect(g.value('s')).toEqual({ has: true, value: 1 });
  });

  it('reads are declared on the first comment line', () => {
    expect(declaredReads('-- reads: plan, front\nSELECT 1')).toEqual(['plan', 'front']);
    expect(declaredReads('// reads: front\nreturn 1')).toEqual(['front']);
    expect(declaredReads('SELECT 1')).toEqual([]);
    expect(declaredReads('-- reads: ok, not valid!, x')).toEqual(['ok', 'x']);
  });
});
