import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plotNetworkWarning } from '../../core/host/plotProcess.js';
import { seedDefaults } from '../../core/host/seed.js';
import { parseNotebook } from '../../core/notebook/format.js';
import { SqliteStore } from '../../core/store/sqliteStore.js';
import { ROOT } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'partita-notebook-cli-'));
const db = join(dir, 'cli.db');
const TOUR = 'experiments/tour/tour.notebook.json';
// The tour as the contract holds it (sources as strings; the file stores multi-line sources as arrays of lines).
const tour = parseNotebook(readFileSync(join(ROOT, TOUR), 'utf8'), TOUR);

beforeAll(async () => {
  // Seeded like `partita init` / the e2e workbench: the bundled models and the device and link presets.
  const store = SqliteStore.open(db);
  await seedDefaults(store);
  store.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Where plot processes cannot be cut off from the network (no working unshare), a run with plot cells starts with
// one warning line on stderr (tested in plotProcess.test.ts); the checks below are about the rest of stderr.
const networkWarning = plotNetworkWarning();

/** Runs the real `partita` binary from the repository root, as a user would. */
function partita(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/partita.js'), '--db', db, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  const stderr = networkWarning ? r.stderr.replace(`${networkWarning}\n`, '') : r.stderr;
  return { code: r.status ?? -1, stdout: r.stdout, stderr };
}

function notebookFile(name: string, doc: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
  return path;
}

describe('partita notebook run', () => {
  it('runs the tour headless: every cell named with its outcome, exit 0', () => {
    const r = partita('notebook', 'run', TOUR);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const out = r.stdout;
    expect(out).toContain(`Notebook 'Tour: what a cut costs, what a bit costs' (${TOUR}): 15 cells`);
    for (const id of ['intro', 'cut', 'bits', 'payloadText', 'runText', 'measuredText', 'devicesText']) expect(out).toContain(`cell ${id} (markdown): skipped`);
    expect(out).toMatch(/^cell plan \(settings\): ok, valid: model fmnist-resnet, device raspberry-pi-4b, link lte, server a100, estimator none, budget 1\.00%$/m);
    expect(out).toMatch(/^cell front \(run\): ok in [\d.]+ ms, \d+ non-dominated plans for fmnist-resnet \(budget 1\.00%\)\n {2}knee: .+ ms, degradation [\d.]+%, energy .+ J\n {2}chosen plan \(solver\): .+ ms, degradation/m);
    expect(out).toMatch(/^cell model \(run\): ok in [\d.]+ ms, fmnist-resnet, \d+ layers; /m);
    // The plot cell is drawn in its own sandboxed process (core/host/plotProcess.ts).
    expect(out).toMatch(/^cell payload \(plot\): ok in [\d.]+ ms, plot: SVG, \d+ bytes$/m);
    expect(out).toMatch(/^cell models \(query\): ok in [\d.]+ ms, 1 row\n {2}name +layer_count +param_count +weight_bytes\n {2}-+ .*\n {2}fmnist-resnet +\d+/m);
    expect(out).toMatch(/^cell run \(run\): ok in [\d.]+ ms, ready to run: fmnist-resnet, .+ on raspberry-pi-4b over lte, 200 requests of fashion-mnist-test locally \(the workbench's Run button starts it; `--execute-runs` runs it here\)$/m);
    expect(out).toMatch(/^cell measured \(run\): ok in [\d.]+ ms, 0 stored runs \(0 ok, 0 failed\)$/m);
    expect(out).toMatch(/^cell devices \(run\): ok in [\d.]+ ms, \d+ device profiles \(\d+ presets, 0 measured, 0 custom\); no agent hub here/m);
    expect(out).toMatch(/\n8 ok, 7 skipped, 0 failed\.\n$/);
  });

  it('--json gives one document with every cell', () => {
    const r = partita('notebook', 'run', TOUR, '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ file: TOUR, name: tour.name, counts: { ok: 8, skipped: 7, error: 0 }, failed: [] });
    expect(j.cells.map((c: { id: string }) => c.id)).toEqual(tour.cells.map((c: { id: string }) => c.id));
    const front = j.cells.find((c: { id: string }) => c.id === 'front');
    expect(j.cells.find((c: { id: string }) => c.id === 'payload')).toMatchObject({ status: 'ok', summary: { plot: 'svg', bytes: expect.any(Number) } });
    expect(front.summary).toMatchObject({ view: 'pareto', model: 'fmnist-resnet', plans: expect.any(Number), knee: { latencyMs: expect.any(Number) }, chosen: { by: 'solver', latencyMs: expect.any(Number) } });
  });

  it('--out writes an HTML report (front and plot cell as inline SVG) or Markdown (SVG files beside it)', () => {
    const html = join(dir, 'tour.html');
    expect(partita('notebook', 'run', TOUR, '--out', html).code).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('<section class="cell" id="cell-front" data-status="ok">');
    expect(page).toMatch(/<figure><svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(page).toContain('<h2>What a cut costs, and what a bit costs</h2>');
    // The tour's own Observable Plot cell, drawn headless: its SVG inline, one dot per plan of the front.
    const payload = /<section class="cell" id="cell-payload" data-status="ok">([^]*?)<\/section>/.exec(page)?.[1] ?? '';
    expect(payload).toMatch(/<p>plot: SVG, \d+ bytes<\/p>\n<figure><svg [^>]*viewBox="0 0 640 220"/);
    expect(payload).toMatch(/<circle [^>]*><title>cut \d+: [\d.]+ ms<\/title><\/circle>/);
    expect(payload).not.toContain('<script');
    const md = join(dir, 'tour.md');
    const r = partita('notebook', 'run', TOUR, '--out', md);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Report: ${md}, ${join(dir, 'tour.front.svg')}, ${join(dir, 'tour.payload.svg')}.`);
    expect(readFileSync(md, 'utf8')).toContain('![Pareto front of front](tour.front.svg)');
    expect(readFileSync(join(dir, 'tour.front.svg'), 'utf8')).toMatch(/^<svg/);
    expect(readFileSync(md, 'utf8')).toMatch(/^plot: SVG, \d+ bytes\n\n!\[Plot of payload\]\(tour\.payload\.svg\)$/m);
    expect(readFileSync(join(dir, 'tour.payload.svg'), 'utf8')).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>.*<circle /s);
    const bad = partita('notebook', 'run', TOUR, '--out', join(dir, 'tour.txt'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/must end in \.html or \.md.*\[notebook-out-invalid\]\n$/);
  });

  it('a broken notebook: the outcomes still print, then exit 1 naming the failing cell and its error', () => {
    const broken = structuredClone(tour);
    broken.cells.find((c) => c.id === 'plan')!.source = tour.cells.find((c) => c.id === 'plan')!.source.replace('raspberry-pi-4b', 'toaster');
    broken.cells.push({ id: 'counts', kind: 'query', source: 'SELECT count(*) AS n FROM modelz' });
    const file = notebookFile('broken.notebook.json', broken);
    const r = partita('notebook', 'run', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^cell plan \(settings\): FAILED: Unknown device "toaster"\. Known: /m);
    expect(r.stdout).toContain('cell front (run): FAILED: Waiting for cell "plan"');
    expect(r.stdout).toMatch(/^cell counts \(query\): FAILED: \[query-invalid\] /m);
    expect(r.stdout).toContain('cell payload (plot): FAILED: Waiting for cell "front"');
    expect(r.stdout).toContain('cell run (run): FAILED: Waiting for cell "front"');
    expect(r.stdout).toMatch(/\n2 ok, 7 skipped, 7 failed\.\n$/);
    expect(r.stderr).toMatch(/^error: Cell 'plan' \(settings\) failed: Unknown device "toaster"\. .+ 7 cells failed: 'plan', 'front', 'model', 'payload', 'models', 'run', 'counts'\. Fix the cell in '.+broken\.notebook\.json' and run again\. \[notebook-cell-failed\]\n$/);
    expect(r.stderr).not.toMatch(/\bat .+\.(js|ts):\d+/);

    const j = partita('notebook', 'run', file, '--json');
    expect(j.code).toBe(1);
    const doc = JSON.parse(j.stdout);
    expect(doc.error).toMatchObject({ code: 'notebook-cell-failed', details: { failed: ['plan', 'front', 'model', 'payload', 'models', 'run', 'counts'], counts: { ok: 2, skipped: 7, error: 7 } } });
  });

  it('plot cells that loop, throw or return no plot fail in place (timeout after 3 s); the rest is reported and drawn, exit 1', () => {
    const file = notebookFile('plots.notebook.json', {
      name: 'plots',
      cells: [
        { id: 'models', kind: 'query', source: 'SELECT name, layer_count FROM models ORDER BY name' },
        { id: 'spin', kind: 'plot', source: '// reads: models\nwhile (true) {}' },
        { id: 'bars', kind: 'plot', source: '// reads: models\nreturn Plot.barX(data.models.objects, { x: "layer_count", y: "name" }).plot({ marginLeft: 90 });' },
        { id: 'oops', kind: 'plot', source: 'return data.nothing.here;' },
        { id: 'text', kind: 'plot', source: 'return "<svg></svg>";' },
        { id: 'one', kind: 'query', source: 'SELECT 1 AS one' },
      ],
    });
    const html = join(dir, 'plots.html');
    const t0 = Date.now();
    const r = partita('notebook', 'run', file, '--out', html);
    const elapsedMs = Date.now() - t0;
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^cell spin \(plot\): FAILED: \[plot-timeout\] The plot code did not finish within 3 s and was stopped \(an endless loop\?\)\./m);
    expect(r.stdout).toMatch(/^cell bars \(plot\): ok in [\d.]+ ms, plot: SVG, \d+ bytes$/m);
    expect(r.stdout).toContain("cell oops (plot): FAILED: [plot-failed] The plot code failed: TypeError: Cannot read properties of undefined (reading 'here') (at line 1). Fix the cell's code.");
    expect(r.stdout).toContain('cell text (plot): FAILED: [plot-invalid-result] The plot code returned a string, not a plot.');
    expect(r.stdout).toMatch(/^cell models \(query\): ok/m);
    expect(r.stdout).toMatch(/^cell one \(query\): ok/m);
    expect(r.stdout).toMatch(/\n3 ok, 0 skipped, 3 failed\. Report: /);
    expect(r.stderr).toMatch(/^error: Cell 'spin' \(plot\) failed: \[plot-timeout\] .+ 3 cells failed: 'spin', 'oops', 'text'\. .+\[notebook-cell-failed\]\n$/);
    // The loop cost its 3 s, not the whole run: startup, planning-free cells and the process's start fit in the rest.
    expect(elapsedMs).toBeLessThan(15_000);
    const page = readFileSync(html, 'utf8');
    expect(page).toMatch(/<section class="cell" id="cell-spin" data-status="error">[^]*?<div class="error"><strong>plot-timeout<\/strong>/);
    expect(page).toMatch(/<section class="cell" id="cell-bars" data-status="ok">[^]*?<figure><svg [^]*?<rect /);
  });

  it('--execute-runs runs the selected plan of a run cell and prints predicted vs measured per stage', () => {
    const settings = JSON.parse(tour.cells.find((c) => c.id === 'plan')!.source);
    const file = notebookFile('run.notebook.json', {
      name: 'run it',
      cells: [
        { id: 'plan', kind: 'settings', source: JSON.stringify({ ...settings, model: 'fmnist-cnn', link: 'wifi' }) },
        { id: 'front', kind: 'run', source: '{"view": "pareto", "settings": "plan"}' },
        { id: 'go', kind: 'run', source: '{"view": "run", "plan": "front", "requests": 8, "eval": "fashion-mnist-test", "agent": null}' },
      ],
    });
    const dry = partita('notebook', 'run', file);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^cell go \(run\): ok in [\d.]+ ms, ready to run: fmnist-cnn, /m);
    const md = join(dir, 'run.md');
    const r = partita('notebook', 'run', file, '--execute-runs', '--out', md);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^cell go \(run\): ok in [\d.]+ ms, ran fmnist-cnn, .+ on raspberry-pi-4b over wifi, 8 requests of fashion-mnist-test locally: plan \d+, run \d+, [\d.]+ requests\/s, top-1 [\d.]+%$/m);
    for (const stage of ['device', 'uplink', 'server', 'result', 'end to end']) expect(r.stdout).toMatch(new RegExp(`^ {2}${stage}: predicted [\\d.]+ ms, measured [\\d.]+ ms`, 'm'));
    expect(readFileSync(md, 'utf8')).toMatch(/\| stage \| predicted ms \| measured ms \(median\) \| p90 ms \| error \|\n.*\n\| device \|/);
  });

  it('a corrupt file, a newer format, a missing file: one clear line, exit 1', () => {
    const cases: [string, RegExp][] = [
      [notebookFile('corrupt.notebook.json', '{"name": "x", "cells": [{"id": "a",'), /^error: Notebook '.+corrupt\.notebook\.json' is not valid JSON \(.+\)\. Fix the file, or restore it from version control\. \[notebook-invalid\]\n$/],
      [notebookFile('future.notebook.json', { ...tour, format: 99 }), /^error: Notebook '.+future\.notebook\.json' has format 99, but this Partita reads format 2 and older\. Update Partita to open it\. \[notebook-too-new\]\n$/],
      [notebookFile('shape.notebook.json', { name: 'x', cells: [{ id: 'a', kind: 'spreadsheet', source: '' }] }), /^error: Notebook '.+shape\.notebook\.json' is not a valid notebook: at cells\.0\.kind: .+ \[notebook-invalid\]\n$/],
      [join(dir, 'absent.notebook.json'), /^error: No notebook file '.+absent\.notebook\.json'\. Check the path .+ \[notebook-not-found\]\n$/],
    ];
    for (const [file, stderr] of cases) {
      const r = partita('notebook', 'run', file);
      expect(r.code, file).toBe(1);
      expect(r.stderr).toMatch(stderr);
      expect(r.stdout).toBe('');
    }
    expect(existsSync(join(dir, 'absent.notebook.json'))).toBe(false);
  });

  it('import, list, duplicate and export: a file becomes a saved notebook and comes back as the same text', () => {
    const imported = partita('--json', 'notebook', 'import', TOUR);
    expect(imported.code, imported.stderr).toBe(0);
    const { id, cells } = JSON.parse(imported.stdout);
    expect(cells).toBe(tour.cells.length);
    const copy = JSON.parse(partita('--json', 'notebook', 'duplicate', id, '--name', 'my tour').stdout);
    const list = JSON.parse(partita('--json', 'notebook', 'list').stdout).notebooks.map((n: { id: string; name: string }) => n.name);
    expect(list).toEqual(expect.arrayContaining([tour.name, 'my tour']));
    const out = join(dir, 'back.notebook.json');
    expect(partita('notebook', 'export', id, '--out', out).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(join(ROOT, TOUR), 'utf8'));
    // Multi-line sources are stored one line per array element, so an edit to one line is a one-line diff.
    expect(Array.isArray(JSON.parse(readFileSync(out, 'utf8')).cells[0].source)).toBe(true);
    expect(copy.id).not.toBe(id);
    const missing = partita('notebook', 'export', 'nope', '--out', join(dir, 'x.notebook.json'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/No saved notebook 'nope'.*\[notebook-unknown\]/);
    expect(existsSync(join(dir, 'x.notebook.json'))).toBe(false);
  });

  it('--help', () => {
    const r = partita('notebook', 'run', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: partita notebook run \[options\] <file>/);
    expect(r.stdout).toContain('--out <file>');
  });
});
