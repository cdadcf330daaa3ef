/**
 * The e2e harness: a real `serveWorkbench` over a fresh SQLite store in a temp folder (seeded like `partita
 * start`), and Debian's Chromium driven by playwright-core. Screenshots and figures go to test/output.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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

export async function startWorkbench(): Promise<Workbench> {
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
      await browser.close();
      await server.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
