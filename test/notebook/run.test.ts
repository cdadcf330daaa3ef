import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotebookCell } from '../../core/api/contract.js';
import { createHandlers } from '../../core/host/handlers.js';
import { seedDefaults } from '../../core/host/seed.js';
import type { ParetoValue } from '../../core/notebook/planning.js';
import { parseNotebook } from '../../core/notebook/format.js';
import { runNotebook, type CellOutcome } from '../../core/notebook/run.js';
import { connectApi, type ApiClient } from '../../core/rpc/client.js';
import { memoryPorts } from '../../core/rpc/port.js';
import { serveApi } from '../../core/rpc/server.js';
import { ROOT, tempStore } from '../helpers.js';

/** The real core (handlers over a seeded temp store) behind an in-memory port pair, as the CLI runs it. */
let db: ReturnType<typeof tempStore>;
let api: ApiClient;
let stop: () => void;
beforeAll(async () => {
  db = tempStore();
  await seedDefaults(db.store);
  const core = createHandlers(db.store);
  const [a, b] = memoryPorts();
  const conn = serveApi(a, core.handlers);
  api = connectApi(b);
  stop = () => (api.close(), conn.close(), core.close());
});
afterAll(() => {
  stop?.();
  db?.cleanup();
});

const byId = (outcomes: CellOutcome[]) => Object.fromEntries(outcomes.map((o) => [o.id, o]));
const cells = (...c: [string, NotebookCell['kind'], string][]) => ({ cells: c.map(([id, kind, source]) => ({ id, kind, source })) });
const SETTINGS = JSON.stringify({ model: 'fmnist-resnet', device: 'raspberry-pi-4b', link: 'lte', estimator: 'none', objective: { latency: 1, energy: 0, cost: 0 }, constraints: { maxDegradation: 0.01 } });

describe('a notebook evaluated headless', () => {
  it('the tour: settings checked, front planned, model view, query table; markdown and plot cells skipped', async () => {
    const nb = parseNotebook(readFileSync(join(ROOT, 'experiments/tour/tour.notebook.json'), 'utf8'));
    const seen: string[] = [];
    const outcomes = await runNotebook(api, nb, { onProgress: (done, total, id) => seen.push(`${done}/${total} ${id}`) });
    expect(outcomes.map((o) => [o.id, o.status])).toEqual([
      ['intro', 'skipped'],
      ['cut', 'skipped'],
      ['plan', 'ok'],
      ['bits', 'skipped'],
      ['front', 'ok'],
      ['model', 'ok'],
      ['payloadText', 'skipped'],
      ['payload', 'skipped'],
      ['models', 'ok'],
    ]);
    const o = byId(outcomes);
    const front = (o.front as Extract<CellOutcome, { status: 'ok' }>).value as ParetoValue;
    expect(front.front.plans.length).toBeGreaterThan(0);
    expect(front.selected).not.toBeNull();
    expect((o.models as Extract<CellOutcome, { status: 'ok' }>).value).toMatchObject({ columns: ['name', 'layer_count', 'param_count', 'weight_bytes'], rows: [['fmnist-resnet', expect.any(Number), expect.any(Number), expect.any(Number)]] });
    expect((o.payload as Extract<CellOutcome, { status: 'skipped' }>).reason).toMatch(/sandboxed worker/);
    // Progress counts the evaluated (non-markdown) cells once each.
    expect(seen.length).toBe(5);
    expect(seen.at(-1)).toMatch(/^5\/5 /);
  });

  it('a reference cycle fails the cells on it and those downstream; the rest runs', async () => {
    const outcomes = byId(
      await runNotebook(
        api,
        cells(['q1', 'query', '-- reads: q2\nSELECT 1 AS one'], ['q2', 'query', '-- reads: q1\nSELECT 2 AS two'], ['q3', 'query', '-- reads: q1\nSELECT 3'], ['q4', 'query', 'SELECT 4 AS four']),
      ),
    );
    expect(outcomes.q1).toMatchObject({ status: 'error', error: { message: 'Cells "q1" and "q2" read each other (a cycle). Remove one of the reads.' } });
    expect(outcomes.q2).toMatchObject({ status: 'error', error: { message: expect.stringMatching(/read each other \(a cycle\)/) } });
    expect(outcomes.q3).toMatchObject({ status: 'error', error: { message: 'Waiting for cell "q1" (it has no value: fix its error first).' } });
    expect(outcomes.q4).toMatchObject({ status: 'ok', value: { columns: ['four'], rows: [[4]] } });
  });

  it("errors come back as the core's CoreErrors (codes kept); cells reading a skipped plot cell are skipped, not failed", async () => {
    const outcomes = byId(
      await runNotebook(
        api,
        cells(
          ['s', 'settings', SETTINGS.replace('raspberry-pi-4b', 'toaster')],
          ['front', 'run', '{"view": "pareto", "settings": "s"}'],
          ['write', 'query', 'DELETE FROM models'],
          ['bad', 'query', 'SELEC nonsense'],
          ['p', 'plot', 'return Plot.plot({ marks: [] });'],
          ['afterPlot', 'query', '-- reads: p\nSELECT 1'],
          ['spec', 'run', '{"view": "nothing"}'],
        ),
      ),
    );
    expect(outcomes.s).toMatchObject({ status: 'error', error: { message: expect.stringMatching(/^Unknown device "toaster"\. Known: .*raspberry-pi-4b/) } });
    expect(outcomes.front).toMatchObject({ status: 'error', error: { message: 'Waiting for cell "s" (it has no value: fix its error first).' } });
    expect(outcomes.write).toMatchObject({ status: 'error', error: { code: 'query-not-read-only' } });
    expect(outcomes.bad).toMatchObject({ status: 'error', error: { code: 'query-invalid' } });
    expect(outcomes.p).toMatchObject({ status: 'skipped' });
    expect(outcomes.afterPlot).toMatchObject({ status: 'skipped', reason: 'it reads cell "p", which is skipped' });
    expect(outcomes.spec).toMatchObject({ status: 'error', error: { message: expect.stringMatching(/^A run cell names a view/) } });
  });

  it('a plot runner, when the host has one, draws plot cells', async () => {
    const outcomes = byId(
      await runNotebook(api, cells(['q', 'query', 'SELECT 7 AS n'], ['p', 'plot', '// reads: q\nreturn data.q.objects[0].n;']), {
        plot: async (code, inputs) => ({ svg: `<svg data-n="${(inputs.q as { objects: { n: number }[] }).objects[0].n}"/>`, code }),
      }),
    );
    expect(outcomes.p).toMatchObject({ status: 'ok', value: { svg: '<svg data-n="7"/>' } });
  });
});
