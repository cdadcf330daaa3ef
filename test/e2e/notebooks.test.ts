/**
 * Notebooks and models from the user's machine, in real Chromium against a real core (serveWorkbench over a fresh,
 * seeded store): the notebook bar lists, creates, duplicates, deletes, imports and exports notebook files (a corrupt
 * or newer file is refused in the bar and the open notebook stays); a model file is chosen or dropped on the window
 * and sent in chunks (a file that is not ONNX is refused in place and nothing is stored); a reload finds the
 * notebook that was open. Screenshot in test/output/notebooks.png.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNotebook } from '../../core/notebook/format.js';
import { PPOCR, ZOO } from '../helpers.js';
import { closeWorkbench, hasChromium, OUTPUT, startWorkbench, type Workbench } from './harness.js';

if (!hasChromium) console.warn('e2e: /usr/bin/chromium is missing, so the browser tests are skipped (apt-get install -y chromium).');

const bar = '.notebook-bar';
const status = `${bar} .notebook-bar-status`;

/** The names in the notebook list, in its order. */
async function listed(page: Page): Promise<string[]> {
  return page.$$eval(`${bar} select option`, (os) => os.map((o) => o.textContent!.replace(/ \(\d+ cells?\)$/, '')));
}

async function openName(page: Page): Promise<string> {
  return page.inputValue('.notebook-name');
}

/** The core's models, asked through the page's own API client. */
async function modelNames(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const api = (window.__partita!.view as unknown as { api: { 'models.list'(): Promise<{ models: { name: string }[] }> } }).api;
    return (await api['models.list']()).models.map((m) => m.name);
  });
}

async function importNotebookFile(page: Page, name: string, text: string): Promise<void> {
  await page.setInputFiles(`${bar} input[type=file]`, { name, mimeType: 'application/json', buffer: Buffer.from(text) });
}

describe.skipIf(!hasChromium)('notebooks and model files in Chromium', () => {
  let wb: Workbench;
  let page: Page;

  // A long timeout: startWorkbench waits while another e2e file has its turn.
  beforeAll(async () => {
    wb = await startWorkbench();
    page = await wb.newPage();
    await page.goto(wb.url);
    await page.waitForSelector('body[data-ready]');
  }, 600_000);

  afterAll(async () => {
    await closeWorkbench(wb);
  });

  it('lists the tour on a fresh store, makes a new notebook and duplicates it', async () => {
    await page.waitForFunction(() => document.querySelectorAll('.notebook-bar select option').length === 1);
    const tour = await openName(page);
    expect(await listed(page)).toEqual([tour]);

    await page.click(`${bar} [data-nb=new]`);
    await page.waitForFunction(() => document.querySelectorAll('.notebook-bar select option').length === 2);
    expect(await openName(page)).toBe('Untitled');
    await page.fill('.notebook-name', 'My study');
    await page.waitForSelector('#save-status[data-state=saved]');
    await page.waitForFunction(() => [...document.querySelectorAll('.notebook-bar option')].some((o) => o.textContent!.startsWith('My study')));

    await page.click(`${bar} [data-nb=duplicate]`);
    await page.waitForFunction(() => document.querySelector<HTMLInputElement>('.notebook-name')!.value === 'My study (copy)');
    expect((await listed(page)).sort()).toEqual(['My study', 'My study (copy)', tour].sort());

    // Switch back to the tour through the list.
    const tourId = await page.$eval(`${bar} select`, (s, name) => [...(s as HTMLSelectElement).options].find((o) => o.textContent!.startsWith(name))!.value, tour);
    await page.selectOption(`${bar} select`, tourId);
    await page.waitForFunction((name) => document.querySelector<HTMLInputElement>('.notebook-name')!.value === name, tour);
  });

  it('refuses a corrupt and a newer notebook file in the bar, keeping the open notebook, then imports a good one', async () => {
    const before = await openName(page);
    const count = (await listed(page)).length;

    await importNotebookFile(page, 'broken.notebook.json', '{"name": "half a file", "cells": [');
    await page.waitForSelector(`${status} [role=alert] code:text("notebook-invalid")`);
    expect(await page.textContent(status)).toContain('broken.notebook.json');

    await importNotebookFile(page, 'future.notebook.json', JSON.stringify({ format: 99, name: 'From the future', cells: [] }));
    await page.waitForSelector(`${status} [role=alert] code:text("notebook-too-new")`);
    expect(await openName(page)).toBe(before);
    expect(await listed(page)).toHaveLength(count);

    const good = { format: 2, name: 'Imported study', cells: [{ id: 'intro', kind: 'markdown', source: ['# Imported', '', 'Two lines.'] }] };
    await importNotebookFile(page, 'good.notebook.json', JSON.stringify(good));
    await page.waitForFunction(() => document.querySelector<HTMLInputElement>('.notebook-name')!.value === 'Imported study');
    expect(await page.textContent('[data-cell-id="intro"]')).toContain('Two lines.');
    expect(await listed(page)).toHaveLength(count + 1);
  });

  it('exports the open notebook as a file the CLI reads back', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`${bar} [data-nb=export]`)]);
    expect(download.suggestedFilename()).toBe('Imported-study.notebook.json');
    const path = join(OUTPUT, 'exported.notebook.json');
    await download.saveAs(path);
    const text = readFileSync(path, 'utf8');
    expect(parseNotebook(text, path)).toMatchObject({ name: 'Imported study', cells: [{ id: 'intro', kind: 'markdown', source: '# Imported\n\nTwo lines.' }] });
    // Format 2 keeps a multi-line source as lines, so the file diffs line by line.
    expect(text).toContain('"Two lines."');
  });

  it('deletes only after a second click', async () => {
    const count = (await listed(page)).length;
    await page.click(`${bar} [data-nb=delete]`);
    expect(await page.textContent(`${bar} [data-nb=delete]`)).toBe('Really delete?');
    expect(await listed(page)).toHaveLength(count);
    await page.click(`${bar} [data-nb=delete]`);
    await page.waitForFunction((n) => document.querySelectorAll('.notebook-bar select option').length === n, count - 1);
    expect(await listed(page)).not.toContain('Imported study');
    expect(await openName(page)).not.toBe('Imported study');
  });

  it('refuses a dropped file that is not ONNX in place and stores nothing', async () => {
    const models = await modelNames(page);
    const dt = await page.evaluateHandle(() => {
      const d = new DataTransfer();
      d.items.add(new File(['name,accuracy\nresnet,0.9\n'], 'results.onnx', { type: 'application/octet-stream' }));
      return d;
    });
    await page.dispatchEvent('body', 'dragover', { dataTransfer: dt });
    expect(await page.getAttribute('body', 'data-dropping')).toBe('true');
    await page.dispatchEvent('body', 'drop', { dataTransfer: dt });
    await page.waitForSelector('.import-status [role=alert] code:text("model-not-onnx")');
    expect(await page.textContent('.import-status')).toContain('results.onnx');
    expect(await modelNames(page)).toEqual(models);
    expect(await page.getAttribute('body', 'data-dropping')).toBeNull();
  });

  it('cancels an upload between chunks: nothing is stored and the core keeps no partial file', async () => {
    const uploads = () => readdirSync(tmpdir()).filter((f) => f.startsWith('partita-upload-')).length;
    const before = uploads();
    const models = await modelNames(page);
    // 48 MiB: twelve chunks, so Cancel comes while it is being sent.
    await page.setInputFiles('.import-bar input[type=file]', { name: 'big.onnx', mimeType: 'application/octet-stream', buffer: Buffer.alloc(48 * 2 ** 20, 7) });
    await page.waitForFunction(() => (document.querySelector<HTMLProgressElement>('.import-progress')?.value ?? 0) > 0, undefined, { timeout: 60_000 });
    await page.click('.import-cancel');
    await page.waitForSelector('.import-status [role=alert] code:text("cancelled")', { timeout: 60_000 });
    expect(await page.textContent('.import-status')).toContain('nothing was stored');
    expect(await modelNames(page)).toEqual(models);
    expect(uploads()).toBe(before);
  });

  it('imports a model file chosen on this machine (sent in chunks) and offers it in the settings', async () => {
    const det = PPOCR[0];
    const size = readFileSync(det.file).byteLength;
    expect(size).toBeGreaterThan(4 * 2 ** 20); // more than one chunk
    await page.setInputFiles('.import-bar input[type=file]', det.file);
    await page.waitForSelector('.import-status[data-model]', { timeout: 120_000 });
    expect(await page.textContent('.import-status')).toMatch(/^Imported: ch_PP-OCRv4_det_infer \(\d+ layers\)$/);
    expect(await modelNames(page)).toContain('ch_PP-OCRv4_det_infer');
    // A bundled model dropped again is recognised by content.
    const mlp = readFileSync(ZOO[2]!.file).toString('base64');
    const dt = await page.evaluateHandle((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const d = new DataTransfer();
      d.items.add(new File([bytes], 'copy-of-mlp.onnx'));
      return d;
    }, mlp);
    await page.dispatchEvent('body', 'drop', { dataTransfer: dt });
    await page.waitForSelector('.import-status:text("Already imported: fmnist-mlp")', { timeout: 120_000 });
    await page.screenshot({ path: join(OUTPUT, 'notebooks.png'), fullPage: false });
  });

  it('builds a study from scratch with the add buttons: settings, then the Pareto, model, runs and devices views', async () => {
    await page.click(`${bar} [data-nb=new]`);
    await page.waitForFunction(() => document.querySelector<HTMLInputElement>('.notebook-name')!.value === 'Untitled');
    // A view that needs a Pareto view before there is one says so in place.
    await page.click('[data-add-view=model]');
    await page.waitForSelector('[data-kind=run][data-status=error] [role=alert]');
    await page.click('.cell-delete >> nth=-1');
    await page.click('[data-add=settings]');
    const settingsId = await page.$eval('[data-kind=settings]', (e) => e.getAttribute('data-cell-id')!);
    await page.evaluate(
      ([id, text]) => window.__partita!.view.settingsEditor(id)!.setValue(text),
      [settingsId, JSON.stringify({ model: 'fmnist-cnn', device: 'raspberry-pi-4b', link: 'lte', estimator: 'none', objective: { latency: 1, energy: 0, cost: 0 }, constraints: { maxDegradation: 0.01 } }, null, 2)] as const,
    );
    await page.click('[data-add-view=pareto]');
    await page.waitForSelector('[data-kind=run] .plan-details', { timeout: 120_000 });
    await page.click('[data-add-view=model]');
    await page.waitForSelector('[data-kind=run] .graph-strip', { timeout: 60_000 });
    await page.click('[data-add-view=runs]');
    await page.waitForSelector('[data-kind=run] .runs-summary');
    await page.click('[data-add-view=devices]');
    await page.waitForSelector('[data-kind=run] .devices-panel');
    expect(await page.$$eval('[data-status=error]', (e) => e.length)).toBe(0);
    await page.waitForSelector('#save-status[data-state=saved]');
  });

  it('finds the open notebook as it was after a reload', async () => {
    const name = await openName(page);
    const cells = await page.$$eval('[data-cell-id]', (els) => els.map((e) => e.getAttribute('data-cell-id')));
    await page.reload();
    await page.waitForSelector('body[data-ready]');
    expect(await openName(page)).toBe(name);
    expect(await page.$$eval('[data-cell-id]', (els) => els.map((e) => e.getAttribute('data-cell-id')))).toEqual(cells);
    // A worker's script load cut short when its notebook closes (or the page reloads) is not an error of the page.
    expect(wb.consoleErrors.filter((e) => !/^requestfailed: .*\.js net::ERR_ABORTED$/.test(e))).toEqual([]);
  });
});
