import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NotebookCell } from '../../core/api/contract.js';
import type { DevicesValue, RunCellValue, RunsValue } from '../../core/notebook/cells.js';
import type { ParetoValue } from '../../core/notebook/planning.js';
import { parseNotebook } from '../../core/notebook/format.js';
import { runNotebook, type CellOutcome } from '../../core/notebook/run.js';
import { ROOT, seededCore } from '../helpers.js';

/** The real core (handlers over a seeded temp store) behind an in-memory port pair, as the CLI runs it. */
const core = seededCore();

const byId = (outcomes: CellOutcome[]) => Object.fromEntries(outcomes.map((o) => [o.id, o]));
const cells = (...c: [string, NotebookCell['kind'], string][]) => ({ cells: c.map(([id, kind, source]) => ({ id, kind, source })) });
const SETTINGS = JSON.stringify({ model: 'fmnist-resnet', device: 'raspberry-pi-4b', link: 'lte', estimator: 'none', objective: { latency: 1, energy: 0, cost: 0 }, constraints: { maxDegradation: 0.01 } });

describe('a notebook evaluated headless', () => {
  it('the tour: settings checked, front planned, model view, query table; markdown and plot cells skipped', async () => {
    const nb = parseNotebook(readFileSync(join(ROOT, 'experiments/tour/tour.notebook.json'), 'utf8'));
    const seen: string[] = [];
    const outcomes = await runNotebook(core.api, nb, { onProgress: (done, total, id) => seen.push(`${done}/${total} ${id}`) });
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
      ['runText', 'skipped'],
      ['run', 'ok'],
      ['measuredText', 'skipped'],
      ['measured', 'ok'],
      ['devicesText', 'skipped'],
      ['devices', 'ok'],
    ]);
    const o = byId(outcomes);
    const front = (o.front as Extract<CellOutcome, { status: 'ok' }>).value as ParetoValue;
    expect(front.front.plans.length).toBeGreaterThan(0);
    expect(front.selected).not.toBeNull();
    // The model view asks for the model's sensitivity: none on a fresh store.
    expect((o.model as Extract<CellOutcome, { status: 'ok' }>).value).toMatchObject({ model: 'fmnist-resnet', plan: front.selected, sensitivity: null });
    expect((o.models as Extract<CellOutcome, { status: 'ok' }>).value).toMatchObject({ columns: ['name', 'layer_count', 'param_count', 'weight_bytes'], rows: [['fmnist-resnet', expect.any(Number), expect.any(Number), expect.any(Number)]] });
    expect((o.payload as Extract<CellOutcome, { status: 'skipped' }>).reason).toMatch(/sandboxed worker/);
    // Progress counts the evaluated (non-markdown) cells once each.
    expect(seen.length).toBe(8);
    expect(seen.at(-1)).toMatch(/^8\/8 /);
    // Headless without executeRuns, the run cell says what it would run (the selected plan, as planned) and starts nothing.
    const run = (o.run as Extract<CellOutcome, { status: 'ok' }>).value as RunCellValue;
    expect(run).toMatchObject({ view: 'run', outcome: null, request: { source: 'front', model: 'fmnist-resnet', device: 'raspberry-pi-4b', link: 'lte', server: 'a100', requests: 200, eval: 'fashion-mnist-test', agent: null } });
    expect(run.request.plan).toEqual({ cut: front.selected!.cut, bits: front.selected!.bits, activationBits: front.selected!.activationBits });
    expect((o.measured as Extract<CellOutcome, { status: 'ok' }>).value).toMatchObject({ view: 'runs', model: null, runs: [], summary: { ok: 0, failed: 0, medianAbsError: null } });
    const devices = (o.devices as Extract<CellOutcome, { status: 'ok' }>).value as DevicesValue;
    expect(devices).toMatchObject({ view: 'devices', hubUrl: null, agents: [], tokens: [] });
    expect(devices.devices.map((d) => d.name)).toContain('raspberry-pi-4b');
  });

  it('a reference cycle fails the cells on it and those downstream; the rest runs', async () => {
    const outcomes = byId(
      await runNotebook(
        core.api,
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
        core.api,
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

  it('run cells: a bad spec or a Pareto cell without a stored model fails in place; executeRuns stores the plan, runs it and tabulates it', async () => {
    const inline = JSON.stringify({ objective: { latency: 1, energy: 0, cost: 0 }, constraints: { maxDegradation: 0.01 }, problem: (await core.api['plan.build']({ model: 'fmnist-cnn', device: 'raspberry-pi-4b', link: 'wifi', estimator: 'none', objective: { latency: 1, energy: 0, cost: 0 }, constraints: { maxDegradation: 0.01 } })) });
    const outcomes = byId(
      await runNotebook(
        core.api,
        cells(
          ['s', 'settings', SETTINGS.replace('fmnist-resnet', 'fmnist-cnn').replace('"lte"', '"wifi"')],
          ['front', 'run', '{"view": "pareto", "settings": "s"}'],
          ['zero', 'run', '{"view": "run", "plan": "front", "requests": 0}'],
          ['typo', 'run', '{"view": "run", "plan": "front", "request": 5}'],
          ['i', 'settings', inline],
          ['inlineFront', 'run', '{"view": "pareto", "settings": "i"}'],
          ['inlineRun', 'run', '{"view": "run", "plan": "inlineFront"}'],
          ['go', 'run', '{"view": "run", "plan": "front", "requests": 12, "eval": "fashion-mnist-test", "agent": null}'],
          ['elsewhere', 'run', '{"view": "run", "plan": "front", "requests": 3, "agent": "pi-in-the-closet"}'],
        ),
        { executeRuns: core.api },
      ),
    );
    expect(outcomes.zero).toMatchObject({ status: 'error', error: { message: expect.stringMatching(/^Invalid "run" run cell at "requests": .*E\.g\. \{"view": "run", "plan": "front"/) } });
    expect(outcomes.typo).toMatchObject({ status: 'error', error: { message: expect.stringMatching(/^Invalid "run" run cell at the top level: .*"request"/) } });
    expect(outcomes.inlineRun).toMatchObject({ status: 'error', error: { message: expect.stringMatching(/^Cell "inlineFront" plans an inline problem/) } });
    // Headless without a hub an agent run fails with the core's code, in place.
    expect(outcomes.elsewhere).toMatchObject({ status: 'error', error: { code: 'agent-hub-off' } });
    const go = (outcomes.go as Extract<CellOutcome, { status: 'ok' }>).value as RunCellValue;
    const front = (outcomes.front as Extract<CellOutcome, { status: 'ok' }>).value as ParetoValue;
    expect(go.outcome).not.toBeNull();
    const o = go.outcome!;
    expect(o.result.run).toMatchObject({ planId: o.planId, status: 'ok', requests: 12, device: 'raspberry-pi-4b', link: 'wifi', server: 'a100', plan: { cut: front.selected!.cut, bits: front.selected!.bits } });
    expect(o.rows.map((r) => r.stage).slice(0, 5)).toEqual(['device', 'uplink', 'server', 'result', 'end to end']);
    const e2e = o.rows.find((r) => r.stage === 'end to end')!;
    expect(e2e.predictedMs).toBeCloseTo(o.result.predicted!.latencyMs, 9);
    expect(e2e.measuredMs).toBe(o.result.measured.median.latencyMs);
    expect(o.result.top1).toBeGreaterThan(0.5);
    const stored = (await core.api['plans.list']({ model: 'fmnist-cnn' })).plans.find((p) => p.id === o.planId);
    expect(stored).toMatchObject({ request: { device: 'raspberry-pi-4b', link: 'wifi', server: 'a100', estimator: 'none' }, plan: go.request.plan });

    // The runs view sees it beside its prediction.
    const runs = byId(await runNotebook(core.api, cells(['r', 'run', '{"view": "runs", "model": "fmnist-cnn"}'])));
    const rv = (runs.r as Extract<CellOutcome, { status: 'ok' }>).value as RunsValue;
    const point = rv.runs.find((p) => p.id === o.result.run.id)!;
    expect(point).toMatchObject({ model: 'fmnist-cnn', status: 'ok', predictedMs: o.result.predicted!.latencyMs, measuredMs: o.result.measured.median.latencyMs });
    expect(point.relativeError).toBeCloseTo(o.result.relativeError!.latencyMs, 9);
    expect(rv.summary.ok).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('a plot runner, when the host has one, draws plot cells', async () => {
    const outcomes = byId(
      await runNotebook(core.api, cells(['q', 'query', 'SELECT 7 AS n'], ['p', 'plot', '// reads: q\nreturn data.q.objects[0].n;']), {
        plot: async (code, inputs) => ({ svg: `<svg data-n="${(inputs.q as { objects: { n: number }[] }).objects[0].n}"/>`, code }),
      }),
    );
    expect(outcomes.p).toMatchObject({ status: 'ok', value: { svg: '<svg data-n="7"/>' } });
  });
});
