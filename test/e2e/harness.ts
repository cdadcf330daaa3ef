/**
 * The e2e harness: a real `serveWorkbench` over a fresh SQLite store in a temp folder (seeded like `partita
 * start`), and Debian's Chromium driven by playwright-core. Screenshots and figures go to test/output.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { seedDefaults } from '../../core/host/seed.js';
import { serveWorkbench } from '../../core/host/serve.js';
import { SqliteStore } from '../../core/store/sqliteStore.js';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
export const OUTPUT = join(import.meta.dirname, '..', 'output');

export interface Workbench {
  url: string;
  origin: string;
  token: string;
  browser: Browser;
  /** Messages the pages logged as errors, CSP violations included. */
  consoleErrors: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

const LOCK = join(tmpdir(), 'partita-e2e.lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The e2e files take turns (a lock directory in the temp folder, held from startWorkbench to close): each drives a
 * Chromium and a core, the machine has two cores, and workbench.test.ts records a latency figure that a second
 * browser running beside it would distort. A lock left by a dead process, or older than 15 minutes, is taken over.
 */
async function takeTurn(): Promise<() => void> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      return () => rmSync(LOCK, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let stale = false;
    try {
      const pid = Number(readFileSync(join(LOCK, 'pid'), 'utf8'));
      stale = (pid > 0 && !alive(pid)) || Date.now() - statSync(LOCK).mtimeMs > 15 * 60_000;
    } catch {
      // The holder is between mkdir and writing its pid, or has just released: look again.
    }
    if (stale) rmSync(LOCK, { recursive: true, force: true });
    else await new Promise((r) => setTimeout(r, 250));
  }
}

/** A fresh workbench and browser; waits for its turn while another e2e file holds one (call in a beforeAll with a long timeout). */
export async function startWorkbench(): Promise<Workbench> {
  const release = await takeTurn();
  try {
    return await launch(release);
  } catch (e) {
    release();
    throw e;
  }
}

async function launch(release: () => void): Promise<Workbench> {
  mkdirSync(OUTPUT, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'partita-e2e-'));
  const store = SqliteStore.open(join(dir, 'partita.db'));
  await seedDefaults(store);
  const server = await serveWorkbench(store);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  const consoleErrors: string[] = [];
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  return {
    url: server.url,
    origin: server.origin,
    token: server.token,
    browser,
    consoleErrors,
    async newPage() {
      const page = await context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(m.text());
      });
      page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
      page.on('requestfailed', (r) => consoleErrors.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
      page.on('response', (r) => {
        if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) consoleErrors.push(`http ${r.status()}: ${r.url()}`);
      });
      return page;
    },
    async close() {
      try {
        await browser.close();
        await server.stop();
        store.close();
        rmSync(dir, { recursive: true, force: true });
      } finally {
        release();
      }
    },
  };
}

/** A cell of the notebook page, by id. */
export const cell = (id: string): string => `[data-cell-id="${id}"]`;

/** A fresh workbench with the tour open and its Pareto view planned (call in a beforeAll with a long timeout). */
export async function openTour(): Promise<{ wb: Workbench; page: Page }> {
  const wb = await startWorkbench();
  const page = await wb.newPage();
  await page.goto(wb.url);
  await page.waitForSelector('body[data-ready]');
  await page.waitForSelector(`${cell('front')} .plan-details`);
  // The first answer for a new problem is a coarse front; tests click points of the full one.
  await page.waitForSelector(`${cell('front')} .pareto-summary:not([data-refining])`, { timeout: 120_000 });
  return { wb, page };
}

/** Prints what the page logged as errors, then closes the workbench (for afterAll). */
export async function closeWorkbench(wb: Workbench | undefined): Promise<void> {
  if (wb?.consoleErrors.length) console.log('page errors:', wb.consoleErrors);
  await wb?.close();
}
