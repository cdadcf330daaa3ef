/**
 * Sensitivity in the model view, in real Chromium against a real core (serveWorkbench over a fresh, seeded store):
 * on a fresh database the tour's model view offers to measure it; a measurement is cancelled (nothing stored), then
 * run to the end with progress; the heat map (layer x bits) appears, and with `"estimator": "sensitivity"` the
 * planner trades bits for accuracy and the heat map outlines the selected plan's widths. Screenshot in
 * test/output/sensitivity.png.
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cell, closeWorkbench, hasChromium, openTour, OUTPUT, type Workbench } from './harness.js';

if (!hasChromium) console.warn('e2e: /usr/bin/chromium is missing, so the browser tests are skipped (apt-get install -y chromium).');

const panel = `${cell('model')} .sensitivity-panel`;

async function storedRuns(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const api = (window.__partita!.view as unknown as { api: { 'store.query'(a: { sql: string }): Promise<{ rows: unknown[][] }> } }).api;
    return Number((await api['store.query']({ sql: "SELECT count(*) FROM estimator_runs WHERE kind = 'sensitivity'" })).rows[0]![0]);
  });
}

describe.skipIf(!hasChromium)('sensitivity in the model view', () => {
  let wb: Workbench;
  let page: Page;

  // A long timeout: startWorkbench waits while another e2e file has its turn.
  beforeAll(async () => {
    ({ wb, page } = await openTour());
  }, 600_000);

  afterAll(async () => {
    await closeWorkbench(wb);
  });

  it('offers to measure on a fresh database; a cancelled measurement stores nothing', async () => {
    await page.locator(panel).scrollIntoViewIfNeeded();
    await page.waitForSelector(`${panel} .sensitivity-start:not([disabled])`);
    expect(await page.textContent(`${panel} .sensitivity-start`)).toBe('Measure sensitivity');
    expect(await page.textContent(panel)).toContain('No sensitivity measured for this model yet');
    expect(await page.locator(`${cell('model')} .heat-map`).count()).toBe(0);

    await page.selectOption(`${panel} .sensitivity-dataset`, 'fashion-mnist-train');
    await page.fill(`${panel} .sensitivity-samples`, '100');
    await page.click(`${panel} .sensitivity-start`);
    await page.waitForSelector(`${panel}[data-state="running"] progress.sensitivity-bar`);
    await page.click(`${panel} .sensitivity-cancel`);
    await page.waitForSelector(`${panel}[data-state="cancelled"]`, { timeout: 60_000 });
    expect(await page.textContent(panel)).toContain('Cancelled; nothing was stored.');
    expect(await storedRuns(page)).toBe(0);
  });

  it('measures with progress, draws the heat map, and the planner then trades bits for accuracy', async () => {
    await page.click(`${panel} .sensitivity-start`);
    await page.waitForSelector(`${panel}[data-state="running"] .sensitivity-progress[data-stage="sensitivity"]`, { timeout: 60_000 });
    await page.waitForSelector(`${panel}[data-state="done"]`, { timeout: 300_000 });
    const heat = page.locator(`${cell('model')} .heat-map`);
    await heat.waitFor({ timeout: 60_000 });
    expect(await storedRuns(page)).toBe(1);
    const layers = Number(await heat.getAttribute('data-layers'));
    const bits = (await heat.getAttribute('data-bits'))!.split(',').map(Number);
    expect(bits).toEqual([8, 6, 5, 4, 3, 2]);
    expect(layers).toBeGreaterThan(5);
    expect(await heat.locator('.heat-cell:not(.none)').count()).toBe(layers * bits.length);
    expect(await heat.textContent()).toContain('100 samples of fashion-mnist-train');
    expect(await page.textContent(`${panel} .sensitivity-start`)).toBe('Measure again');
    // A 2-bit layer loses more than an 8-bit one somewhere (the colours are not all white).
    const titles = await heat.locator('.heat-cell[data-bits="2"]').evaluateAll((els) => els.map((e) => e.getAttribute('title')!));
    expect(titles.some((t) => !/: 0 top-1/.test(t))).toBe(true);

    // Plan with the measured estimator: the selected plan now quantizes device layers, outlined in the heat map.
    const text = await page.evaluate(() => window.__partita!.view.settingsEditor('plan')!.getValue());
    const settings = JSON.parse(text) as Record<string, unknown>;
    settings.estimator = 'sensitivity';
    (settings.constraints as Record<string, unknown>).maxDegradation = 0.02;
    await page.evaluate((t) => window.__partita!.view.settingsEditor('plan')!.setValue(t), JSON.stringify(settings, null, 2));
    await page.waitForFunction(
      (sel) => {
        const v = window.__partita!.view.graph.state('front') as { value?: { settings: { estimator?: string }; selected: { bits: number[]; cut: number } | null } };
        return v.value?.settings.estimator === 'sensitivity' && document.querySelector(`${sel} .heat-cell.chosen`) !== null;
      },
      cell('model'),
      { timeout: 120_000 },
    );
    const selected = await page.evaluate(() => (window.__partita!.view.graph.state('front') as { value?: { selected: { bits: number[]; cut: number } } }).value!.selected);
    expect(selected.cut).toBeGreaterThan(0);
    const quantized = selected.bits.slice(0, selected.cut).filter((b) => b <= 8).length;
    expect(quantized).toBeGreaterThan(0);
    expect(await heat.locator('.heat-cell.chosen').count()).toBe(quantized);
    await page.locator(cell('model')).screenshot({ path: join(OUTPUT, 'sensitivity.png') });
    expect(wb.consoleErrors.filter((e) => /Content Security Policy|pageerror/.test(e))).toEqual([]);
  });
});
