/**
 * "Export this plan" in real Chromium against a real core (serveWorkbench over a fresh, seeded store): a plan
 * selected in a Pareto view is exported with progress; the folder the page names holds a plan.json that validates
 * against PlanFileSchema and a head.onnx and tail.onnx that, loaded here in onnxruntime-node, chain to the whole
 * model. A plan whose link needs activation ranges fails in place without calibration data (nothing written) and
 * exports once a calibration dataset is chosen. Screenshot in test/output/export.png.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlanFileSchema } from '../../core/api/planFile.js';
import { sha256Hex } from '../../core/util/hash.js';
import { PPOCR } from '../helpers.js';
import { cell, closeWorkbench, hasChromium, openTour, OUTPUT, type Workbench } from './harness.js';

if (!hasChromium) console.warn('e2e: /usr/bin/chromium is missing, so the browser tests are skipped (apt-get install -y chromium).');

const CLS = PPOCR[2];
const CLS_NAME = 'ch_ppocr_mobile_v2.0_cls_infer';

/** Adds a settings cell and a Pareto cell reading it, and waits for the selected plan's details. */
async function paretoCells(page: Page, id: string, settings: Record<string, unknown>): Promise<void> {
  await page.evaluate(
    ([id, s]) => {
      const v = window.__partita!.view;
      v.addCell('settings', JSON.stringify(s, null, 2), id);
      v.addCell('run', JSON.stringify({ view: 'pareto', settings: id }), `${id}Front`);
    },
    [id, settings] as const,
  );
  await page.waitForSelector(`${cell(`${id}Front`)} .plan-details .export-panel`, { timeout: 120_000 });
  // A new problem is answered with a coarse front first; clicking before the full one replaces the chart would
  // click a ring that is about to be redrawn.
  await page.waitForSelector(`${cell(`${id}Front`)} .pareto-summary:not([data-refining])`, { timeout: 120_000 });
}

/** Clicks the centre of the ring around the selected plan: the plan becomes "selected by click". */
async function clickSelected(page: Page, front: string): Promise<number> {
  const ring = page.locator(`${cell(front)} g.selected-dot circle`);
  await ring.scrollIntoViewIfNeeded();
  const box = await ring.boundingBox();
  expect(box).not.toBeNull();
  await page.mouse.click(box!.x + box!.width / 2, box!.y + box!.height / 2);
  const details = page.locator(`${cell(front)} .plan-details[data-selected-by="click"]`);
  await details.waitFor();
  return Number(await details.getAttribute('data-cut'));
}

async function exportState(page: Page, front: string, state: 'done' | 'error'): Promise<void> {
  await page.waitForSelector(`${cell(front)} .export-panel[data-state="${state}"]`, { timeout: 120_000 });
}

describe.skipIf(!hasChromium)('exporting a plan from the workbench', () => {
  let wb: Workbench;
  let page: Page;
  let exportsDir = '';

  // A long timeout: startWorkbench waits while another e2e file has its turn.
  beforeAll(async () => {
    ({ wb, page } = await openTour());
  }, 600_000);

  afterAll(async () => {
    await closeWorkbench(wb);
  });

  it('exports the selected plan; head.onnx then tail.onnx compute what the whole model computes, and plan.json validates', async () => {
    await page.fill('.import-path', CLS.file);
    await page.click('.import-button');
    await page.waitForSelector('.import-status[data-model]', { timeout: 60_000 });
    // Over LTE from a Raspberry Pi the fastest plan runs the first layers on the device (the input is large).
    await paretoCells(page, 'cls', {
      model: CLS_NAME,
      device: 'raspberry-pi-4b',
      link: 'lte',
      estimator: 'none',
      inputShape: { '*': CLS.inputShape },
      objective: { latency: 1, energy: 0, cost: 0 },
      constraints: { maxDegradation: 0.01 },
    });
    const cut = await clickSelected(page, 'clsFront');
    const layers = await page.evaluate(() => (window.__partita!.view.graph.state('clsFront') as { value: { layerNames: string[] } }).value.layerNames.length);
    expect(cut).toBeGreaterThan(0);
    expect(cut).toBeLessThan(layers);

    const panel = page.locator(`${cell('clsFront')} .export-panel`);
    expect(await panel.locator('.export-note').textContent()).toContain(`cut after layer ${cut}`);
    // Progress shows while the job runs (it may be quick: the bar or the result, whichever the page shows first).
    await panel.locator('.export-start').click();
    await page.waitForSelector(`${cell('clsFront')} .export-panel[data-state="running"] progress.export-bar, ${cell('clsFront')} .export-panel[data-state="done"]`);
    await exportState(page, 'clsFront', 'done');
    const outDir = (await panel.locator('.export-dir').textContent())!;
    exportsDir = dirname(outDir);
    expect(outDir).toMatch(new RegExp(`/exports/${CLS_NAME.replace(/\./g, '\\.')}-\\d{8}T\\d{6}Z$`));
    const listed = await panel.locator('.export-files tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.file));
    expect(listed).toEqual(['head.onnx', 'tail.onnx', 'quantization.ort.json', 'encodings.aimet.json', 'report.html', 'plan.json']);
    await page.locator(cell('clsFront')).screenshot({ path: join(OUTPUT, 'export.png') });

    // plan.json: the schema, the plan selected, the files beside it as written.
    const pf = PlanFileSchema.parse(JSON.parse(readFileSync(join(outDir, 'plan.json'), 'utf8')));
    expect(pf.cut).toBe(cut);
    expect(pf.model.name).toBe(CLS_NAME);
    expect(pf.request).toMatchObject({ device: 'raspberry-pi-4b', link: 'lte' });
    expect(pf.predicted?.latencyMs).toBeGreaterThan(0);
    for (const [name, f] of Object.entries(pf.files)) expect(sha256Hex(readFileSync(join(outDir, name))), name).toBe(f.sha256);

    // head -> tail against the whole model on one input (the link carries what the plan says, FP16 at most lossy).
    const head = await ort.InferenceSession.create(join(outDir, 'head.onnx'));
    const tail = await ort.InferenceSession.create(join(outDir, 'tail.onnx'));
    const whole = await ort.InferenceSession.create(CLS.file);
    const n = CLS.inputShape.reduce((a: number, b: number) => a * b, 1);
    const x = new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => ((i % 97) / 97) * 2 - 1), [...CLS.inputShape]);
    const mid = await head.run({ [head.inputNames[0]]: x });
    const y = (await tail.run(Object.fromEntries(tail.inputNames.map((k) => [k, mid[k]]))))[tail.outputNames[0]].data as Float32Array;
    const ref = (await whole.run({ [whole.inputNames[0]]: x }))[whole.outputNames[0]].data as Float32Array;
    expect(y.length).toBe(ref.length);
    for (let i = 0; i < y.length; i++) expect(y[i]).toBeCloseTo(ref[i], pf.activationBits === 32 ? 5 : 3);
  });

  it('a link that needs activation ranges fails in place without calibration data, writes nothing, and exports with it', async () => {
    // An estimator for fmnist-cnn (through the page's own connection), so the planner offers quantized link codes.
    await page.evaluate(async () => {
      const api = (window.__partita!.view as unknown as { api: { runJob(m: string, a: unknown): Promise<unknown> } }).api;
      await api.runJob('sensitivity.run', { model: 'fmnist-cnn', dataset: 'fashion-mnist-train', samples: 200, bits: [8] });
    });
    await paretoCells(page, 'q', { model: 'fmnist-cnn', device: 'jetson-orin-nano', link: 'wifi', estimator: 'sensitivity', objective: { latency: 1, energy: 0, cost: 0 }, constraints: { maxDegradation: 0.01 } });
    // Select a front plan that sends activations below 16 bits.
    const box = await page.evaluate((sel) => {
      for (const c of document.querySelectorAll<SVGCircleElement>(`${sel} g.front-dot circle`)) {
        if (/activations ([2-8]) bit/.test(c.querySelector('title')?.textContent ?? '')) {
          c.scrollIntoView({ block: 'center' });
          const r = c.getBoundingClientRect();
          return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
        }
      }
      return null;
    }, cell('qFront'));
    expect(box, 'a front plan with a quantized link').not.toBeNull();
    await page.mouse.click(box!.x, box!.y);
    await page.locator(`${cell('qFront')} .plan-details[data-selected-by="click"]`).waitFor();

    const panel = page.locator(`${cell('qFront')} .export-panel`);
    const before = readdirSync(exportsDir).sort();
    await panel.locator('.export-start').click();
    await exportState(page, 'qFront', 'error');
    expect(await panel.locator('.error').textContent()).toMatch(/^quant-not-calibrated .*needs activation ranges/);
    expect(readdirSync(exportsDir).sort()).toEqual(before);
    // The rest of the notebook keeps working: the view still shows its plan.
    expect(await page.locator(`${cell('qFront')} .plan-details`).count()).toBe(1);

    await panel.locator('.export-calib').selectOption('fashion-mnist-train');
    await panel.locator('.export-start').click();
    await exportState(page, 'qFront', 'done');
    const outDir = (await panel.locator('.export-dir').textContent())!;
    const pf = PlanFileSchema.parse(JSON.parse(readFileSync(join(outDir, 'plan.json'), 'utf8')));
    expect(pf.link.length).toBeGreaterThan(0);
    expect(pf.link.every((l) => l.encoding === 'codes' && l.bits < 16)).toBe(true);
    expect(readdirSync(exportsDir).sort()).toEqual([...before, ...[outDir.slice(exportsDir.length + 1)]].sort());
  });
});
