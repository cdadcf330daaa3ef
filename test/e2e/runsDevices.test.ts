/**
 * Runs and devices in real Chromium against a real core (serveWorkbench over a fresh, seeded store, with its agent
 * hub): the tour's run cell runs the selected plan locally (cancel, run, run another selection) and the runs appear
 * in the predicted-vs-measured view; the devices view pairs a device (the token shown once), a real agent process
 * started with that token appears in the live list, its profile is measured and saved, the run cell runs the plan's
 * head on that agent, and revoking the token drops it. Screenshots in test/output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';
import { cell, closeWorkbench, hasChromium, openTour, OUTPUT, type Workbench } from './harness.js';

if (!hasChromium) console.warn('e2e: /usr/bin/chromium is missing, so the browser tests are skipped (apt-get install -y chromium).');


async function stageCells(page: Page, run: string): Promise<Record<string, { predicted: string; measured: string }>> {
  return page.evaluate((sel) => {
    const out: Record<string, { predicted: string; measured: string }> = {};
    for (const tr of document.querySelectorAll<HTMLTableRowElement>(`${sel} .run-table tbody tr`)) {
      out[tr.dataset.stage!] = { predicted: tr.querySelector('[data-col="predicted"]')!.textContent!, measured: tr.querySelector('[data-col="measured"]')!.textContent! };
    }
    return out;
  }, cell(run));
}

/** Starts the run cell again and waits until it shows a new finished run (the previous result stays until then). */
async function runAgain(page: Page): Promise<void> {
  const panel = page.locator(`${cell('run')} .run-panel`);
  const before = await panel.locator('.run-outcome').getAttribute('data-run-id');
  await panel.locator('.run-start').click();
  await page.waitForFunction(
    ([sel, id]) => {
      const o = document.querySelector(`${sel} .run-panel[data-state="done"] .run-outcome`);
      return o && o.getAttribute('data-run-id') !== id;
    },
    [cell('run'), before] as const,
    { timeout: 120_000 },
  );
}

describe.skipIf(!hasChromium)('runs and devices in Chromium', () => {
  let wb: Workbench;
  let page: Page;
  let agent: ChildProcess | null = null;
  let agentLog = '';

  // A long timeout: startWorkbench waits while another e2e file has its turn.
  beforeAll(async () => {
    ({ wb, page } = await openTour());
  }, 600_000);

  afterAll(async () => {
    agent?.kill('SIGKILL');
    await closeWorkbench(wb);
  });

  it('runs the selected plan locally from the run cell: cancel, run, and the measured table per stage', async () => {
    const panel = page.locator(`${cell('run')} .run-panel`);
    await panel.waitFor();
    expect(await panel.locator('.run-request').textContent()).toMatch(/fmnist-resnet on raspberry-pi-4b over lte .* 200 requests of fashion-mnist-test/);
    // On a fresh database there is nothing to compare yet.
    await page.waitForSelector(`${cell('measured')} .runs-summary[data-runs="0"]`);

    // Start, then cancel while the requests run.
    await panel.locator('.run-start').click();
    await page.waitForSelector(`${cell('run')} .run-panel[data-state="running"] .run-progress-text[data-stage="requests"]`, { timeout: 60_000 });
    expect(await panel.locator('progress.run-bar').count()).toBe(1);
    await panel.locator('.run-cancel').click();
    await page.waitForSelector(`${cell('run')} .run-panel[data-state="cancelled"]`, { timeout: 30_000 });
    // The cancelled run is stored as failed, with its reason, and shows in the runs view (not in the chart).
    await page.waitForSelector(`${cell('measured')} .runs-summary[data-runs="1"][data-plotted="0"]`);
    expect(await page.locator(`${cell('measured')} .runs-table tr[data-status="failed"]`).textContent()).toContain('cancelled');

    // Run it to the end.
    await panel.locator('.run-start').click();
    await page.waitForSelector(`${cell('run')} .run-panel[data-state="done"] .run-outcome`, { timeout: 120_000 });
    const stages = await stageCells(page, 'run');
    expect(Object.keys(stages)).toEqual(expect.arrayContaining(['device', 'uplink', 'server', 'result', 'end to end']));
    for (const s of ['device', 'uplink', 'server', 'result', 'end to end']) {
      expect(stages[s].predicted, s).toMatch(/^[\d.e+-]+ ms$/);
      expect(stages[s].measured, s).toMatch(/^[\d.e+-]+ ms$/);
    }
    // The link is emulated from the same profile the prediction uses: the uplink agrees within a few percent.
    const ms = (t: string) => Number(t.replace(' ms', ''));
    expect(Math.abs(ms(stages.uplink.measured) - ms(stages.uplink.predicted)) / ms(stages.uplink.predicted)).toBeLessThan(0.25);
    expect(await panel.locator('[data-field="throughput"]').textContent()).toMatch(/^Throughput [\d.]+ requests\/s$/);
    expect(await panel.locator('[data-field="top1"]').textContent()).toMatch(/^top-1 \d+\.\d\d%$/);
    const runId = await panel.locator('.run-outcome').getAttribute('data-run-id');
    await panel.screenshot({ path: join(OUTPUT, 'run-cell.png') });

    // The predicted-vs-measured view refreshes with the new run as a point beside the line y = x.
    await page.waitForSelector(`${cell('measured')} .runs-summary[data-runs="2"][data-plotted="1"]`);
    const point = page.locator(`${cell('measured')} g.run-dot circle`);
    expect(await point.count()).toBe(1);
    expect(await point.locator('title').textContent()).toContain(`run ${runId}: fmnist-resnet`);
    const row = page.locator(`${cell('measured')} .runs-table tr[data-run-id="${runId}"]`);
    expect(await row.getAttribute('data-status')).toBe('ok');
    expect(await row.locator('[data-col="measured"]').textContent()).toBe(stages['end to end'].measured);
  });

  it('runs another selection of the front, and both runs show in predicted vs measured', async () => {
    // Click the "Device only, FP32" baseline: every layer on the device, nothing sent.
    const box = await page.evaluate((sel) => {
      const path = [...document.querySelectorAll(`${sel} g.baseline-dot path`)].find((p) => p.querySelector('title')?.textContent?.startsWith('Device only, FP32'));
      path?.scrollIntoView({ block: 'center' });
      const r = path?.getBoundingClientRect();
      return r ? { x: r.x + r.width / 2, y: r.y + r.height / 2 } : null;
    }, cell('front'));
    expect(box).not.toBeNull();
    await page.mouse.click(box!.x, box!.y);
    await page.waitForSelector(`${cell('front')} .plan-details[data-selected-by="click"]`);
    const panel = page.locator(`${cell('run')} .run-panel`);
    await page.waitForFunction((sel) => /all \d+ layers on the device/.test(document.querySelector(`${sel} .run-request`)?.textContent ?? ''), cell('run'));
    // The last result stays, marked as belonging to the earlier selection.
    await panel.locator('.run-other').waitFor();
    await runAgain(page);
    expect(await panel.locator('.run-other').count()).toBe(0);
    await page.waitForSelector(`${cell('measured')} .runs-summary[data-runs="3"][data-plotted="2"]`);
    expect(await page.locator(`${cell('measured')} g.run-dot circle`).count()).toBe(2);
    await page.locator(cell('measured')).screenshot({ path: join(OUTPUT, 'predicted-vs-measured.png') });
  });

  it('devices: pairing shows the token once, a real agent appears live, its profile is saved, revoke drops it', async () => {
    const view = page.locator(`${cell('devices')} .devices-panel`);
    await view.scrollIntoViewIfNeeded();
    expect(await view.locator('.device-table tr[data-device="raspberry-pi-4b"]').getAttribute('data-kind')).toBe('preset');
    await view.locator('.no-agents').waitFor();

    await view.locator('.pair-label').fill('e2e-dev');
    await view.locator('.pair-button').click();
    const tokenBox = view.locator('.pair-token');
    await tokenBox.waitFor();
    const token = (await tokenBox.locator('code.token').textContent())!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const command = (await tokenBox.locator('code.agent-command').textContent())!;
    const m = /^partita agent --server (ws:\/\/127\.0\.0\.1:\d+\/agent) --token (\S+) --name e2e-dev$/.exec(command);
    expect(m, command).not.toBeNull();
    expect(m![2]).toBe(token);
    const tokenRow = view.locator('.token-table tr', { hasText: 'e2e-dev' });
    await tokenRow.waitFor();
    const tokenId = await tokenRow.getAttribute('data-token-id');
    // The list of tokens never holds the token itself.
    expect(await view.locator('.token-table').textContent()).not.toContain(token);

    // A real agent process, started with the command's server and token.
    agent = spawn(process.execPath, [join(ROOT, 'bin/partita.js'), 'agent', '--server', m![1], '--token', token, '--name', 'e2e-dev'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' } });
    agent.stdout!.on('data', (d: Buffer) => (agentLog += d.toString()));
    agent.stderr!.on('data', (d: Buffer) => (agentLog += d.toString()));
    const row = view.locator('.agent-table tr[data-agent="e2e-dev"]');
    await row.waitFor({ timeout: 30_000 }).catch((e) => {
      throw new Error(`${e.message}\nagent log:\n${agentLog}`);
    });
    expect(await row.locator('.hardware').textContent()).toMatch(/\d+ cores · .+ · ORT \d+\.\d+/);
    // Live: the heartbeat and round trip arrive through the 2 s poll.
    await page.waitForFunction((sel) => /ms$/.test(document.querySelector(`${sel} [data-col="rtt"]`)?.textContent ?? ''), `${cell('devices')} .agent-table tr[data-agent="e2e-dev"]`, { timeout: 30_000 });
    expect(await view.locator(`.token-table tr[data-token-id="${tokenId}"]`).textContent()).toContain('e2e-dev');

    // Save profile: micro-benchmarks on the agent, saved as a measured device.
    expect(await row.locator('.save-as').inputValue()).toBe('e2e-dev-measured');
    await row.locator('.save-profile').click();
    await page.waitForSelector(`${cell('devices')} .agent-table tr[data-agent="e2e-dev"] .bench-status[data-state="done"]`, { timeout: 120_000 });
    expect(await row.locator('.bench-status').textContent()).toMatch(/^Saved as device "e2e-dev-measured": INT8 [\d.e+-]+ GMAC\/s/);
    await page.waitForSelector(`${cell('devices')} .device-table tr[data-device="e2e-dev-measured"][data-kind="measured"]`);
    await page.locator(cell('devices')).screenshot({ path: join(OUTPUT, 'devices.png') });

    // The run cell runs the selected plan with its head on the agent (a real process, over the hub's socket).
    await page.locator(`${cell('run')} .cell-edit`).click();
    await page.fill(`${cell('run')} textarea.cell-source`, JSON.stringify({ view: 'run', plan: 'front', requests: 50, eval: 'fashion-mnist-test', agent: 'e2e-dev' }));
    await page.waitForFunction((sel) => /head on agent e2e-dev/.test(document.querySelector(`${sel} .run-request`)?.textContent ?? ''), cell('run'), { timeout: 30_000 });
    const runPanel = page.locator(`${cell('run')} .run-panel`);
    await runAgain(page);
    const agentStages = await stageCells(page, 'run');
    for (const s of ['device', 'uplink', 'server', 'end to end']) expect(agentStages[s]?.measured, s).toMatch(/^[\d.e+-]+ ms$/);
    const agentRun = await runPanel.locator('.run-outcome').getAttribute('data-run-id');
    const agentRow = page.locator(`${cell('measured')} .runs-table tr[data-run-id="${agentRun}"]`);
    await agentRow.waitFor();
    expect(await agentRow.getAttribute('data-status')).toBe('ok');
    expect(await agentRow.textContent()).toContain('agent e2e-dev');

    // After a reload the token is gone for good: only its row (label, dates) remains.
    await page.reload();
    await page.waitForSelector('body[data-ready]');
    const again = page.locator(`${cell('devices')} .devices-panel`);
    await again.scrollIntoViewIfNeeded();
    await again.locator('.agent-table tr[data-agent="e2e-dev"]').waitFor();
    expect(await again.locator('.pair-token').count()).toBe(0);
    expect(await page.content()).not.toContain(token);

    // Revoke: the token is marked revoked and the agent attached with it is dropped.
    await again.locator(`.token-table tr[data-token-id="${tokenId}"] button.revoke`).click();
    await page.waitForSelector(`${cell('devices')} .token-table tr[data-token-id="${tokenId}"][data-revoked="true"]`);
    await page.waitForSelector(`${cell('devices')} .agent-table tr[data-agent="e2e-dev"]`, { state: 'detached', timeout: 15_000 });
    await again.locator('.no-agents').waitFor();
    expect(wb.consoleErrors.filter((e) => /Content Security Policy|pageerror/.test(e))).toEqual([]);
  });
});
