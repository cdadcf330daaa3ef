import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotebookCell } from '../../core/api/contract.js';
import {
  headlessPlotRunner,
  plotNetworkCut,
  plotNetworkWarning,
  plotProcessArgs,
  plotProcessCommand,
  plotRunnerPath,
  renderPlot,
  spawnPlotProcess,
} from '../../core/host/plotProcess.js';
import { cleanPlotMarkup, standaloneSvg } from '../../core/host/plotSvg.js';
import { parseNotebook } from '../../core/notebook/format.js';
import { runNotebook, type CellOutcome } from '../../core/notebook/run.js';
import { ROOT, seededCore } from '../helpers.js';

// Real plot processes throughout (dist/plotChild.mjs, built by the global setup): no mocks.

/** Rejects with the CoreError's code and message, for matching. */
async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  }
  throw new Error('expected the plot to fail');
}

describe('a plot cell drawn in its own process', () => {
  it('draws a figure, a mark, or an array of marks as SVG (the workbench worker’s contract)', async () => {
    const data = { q: { objects: [{ x: 1, y: 2 }, { x: 2, y: 3 }, { x: 3, y: 1 }] } };
    const fig = await renderPlot('// reads: q\nreturn Plot.plot({ marks: [Plot.dot(data.q.objects, { x: "x", y: "y" })] });', data);
    expect(fig.root).toBe('svg');
    expect(fig.svg).toMatch(/^<svg [^>]*viewBox=/);
    expect(fig.svg.match(/<circle /g)).toHaveLength(3);
    expect(fig.bytes).toBe(Buffer.byteLength(fig.svg));
    const mark = await renderPlot('return Plot.lineY(data.q.objects, { x: "x", y: "y" });', data);
    expect(mark.svg).toMatch(/^<svg .*<path /s);
    const marks = await renderPlot('return [Plot.ruleY([0]), Plot.barY(data.q.objects, { x: "x", y: "y" })];', data);
    expect(marks.svg.match(/<rect /g)).toHaveLength(3);
    // A title makes Plot return a <figure>; the Markdown report's file holds its chart, with the SVG namespace.
    const titled = await renderPlot('return Plot.dot(data.q.objects, { x: "x", y: "y" }).plot({ title: "Three points" });', data);
    expect(titled.root).toBe('figure');
    expect(titled.svg).toMatch(/^<figure[^>]*><h2>Three points<\/h2>/);
    expect(standaloneSvg(titled.svg)).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>.*<circle /s);
  });

  it('errors in the code, a syntax error, a result that is not a plot: a clear CoreError each', async () => {
    expect(await failure(renderPlot('const plans = data.front.plans;\nreturn Plot.dot(plans).plot();', {}))).toEqual({
      code: 'plot-failed',
      message: "The plot code failed: TypeError: Cannot read properties of undefined (reading 'plans') (at line 1). Fix the cell's code.",
    });
    expect(await failure(renderPlot('return Plot.plot({', {}))).toMatchObject({ code: 'plot-failed', message: expect.stringMatching(/^The plot code does not compile: SyntaxError: /) });
    expect(await failure(renderPlot('return 42;', {}))).toEqual({ code: 'plot-invalid-result', message: 'The plot code returned a number, not a plot. Return a Plot figure (Plot.plot(…) or mark.plot(…)) or a mark.' });
    expect(await failure(renderPlot('return document.createElement("div");', {}))).toMatchObject({ code: 'plot-invalid-result', message: expect.stringContaining('returned a <div> element, not a plot') });
    expect(await failure(renderPlot('', {}))).toMatchObject({ code: 'plot-invalid-result', message: expect.stringContaining('returned undefined') });
  });

  it('an endless loop is killed after 3 s with a timeout error', async () => {
    const t0 = performance.now();
    const e = await failure(renderPlot('while (true) {}', {}));
    const ms = performance.now() - t0;
    expect(e).toMatchObject({ code: 'plot-timeout', message: expect.stringMatching(/^The plot code did not finish within 3 s and was stopped \(an endless loop\?\)/) });
    expect(ms).toBeGreaterThanOrEqual(3000);
    expect(ms).toBeLessThan(5000);
  });

  it('runs under the permission model: only the bundle is readable, no writes, processes or workers', async () => {
    const runner = plotRunnerPath();
    const args = plotProcessArgs(runner);
    expect(args).toContain(`--allow-fs-read=${runner}`);
    expect(args.filter((a) => a.startsWith('--allow-'))).toEqual([`--allow-fs-read=${runner}`]);
    // node:vm is not a boundary: linkedom's document.defaultView is a proxy of the process's globalThis, so the code
    // reaches `process`, and through it node:fs. The permission model is what refuses the read.
    const escape = (js: string) => failure(renderPlot(`const process = document.defaultView.process;\n${js}`, {}));
    expect(await escape('return process.getBuiltinModule("fs").readFileSync("/etc/passwd", "utf8");')).toMatchObject({
      code: 'plot-failed',
      message: expect.stringContaining("Error [ERR_ACCESS_DENIED]: Access to this API has been restricted (FileSystemRead '/etc/passwd')"),
    });
    // Partita's own files outside the bundle are as closed as /etc; the bundle itself is the one readable file.
    const pkg = realpathSync(join(ROOT, 'package.json'));
    expect((await escape(`return process.getBuiltinModule("fs").readFileSync(${JSON.stringify(pkg)}, "utf8");`)).message).toContain(`ERR_ACCESS_DENIED]: Access to this API has been restricted (FileSystemRead '${pkg}')`);
    expect((await escape(`throw new Error("read " + process.getBuiltinModule("fs").readFileSync(${JSON.stringify(runner)}).length + " bytes");`)).message).toMatch(/Error: read \d+ bytes/);
    expect((await escape(`process.getBuiltinModule("fs").writeFileSync(${JSON.stringify(join(tmpdir(), 'partita-plot-escape.txt'))}, "x");`)).message).toContain('ERR_ACCESS_DENIED');
    expect((await escape('process.getBuiltinModule("child_process").execSync("id");')).message).toContain('ERR_ACCESS_DENIED');
    expect((await escape('new (process.getBuiltinModule("worker_threads").Worker)("0", { eval: true });')).message).toContain('ERR_ACCESS_DENIED');
    expect((await escape('process.binding("fs");')).message).toContain('ERR_ACCESS_DENIED');
    // Nothing of the parent's environment is there to read.
    expect((await escape('throw new Error("env " + JSON.stringify(process.env));')).message).toMatch(/Error: env \{("TZ":"UTC")?\}/);
  });

  it('the scope holds Plot, data and document only; code from strings is refused', async () => {
    const scope = await failure(renderPlot('throw new Error([typeof fetch, typeof process, typeof require, typeof globalThis.fetch, typeof setTimeout, typeof WebSocket, typeof document.defaultView.fetch].join(","));', {}));
    expect(scope.message).toContain('Error: undefined,undefined,undefined,undefined,undefined,undefined,undefined');
    // V8's own console of a fresh context writes nowhere (no inspector here): console.log is harmless, as in the worker.
    expect((await renderPlot('console.log("hi");\nreturn Plot.frame().plot();', {})).svg).toMatch(/^<svg /);
    expect((await failure(renderPlot('return Plot.plot.constructor("return process")();', {}))).message).toContain('EvalError: Code generation from strings disallowed');
    expect((await failure(renderPlot('return eval("1");', {}))).message).toContain('EvalError');
    expect((await failure(renderPlot('return import("node:fs");', {}))).code).toBe('plot-invalid-result');
  });

  it('what comes back is checked and cleaned: one <svg> or <figure>, within the size limit, no scripts or handlers', async () => {
    const dirty = await renderPlot(
      'const svg = Plot.dot([1], { x: (d) => d }).plot();\nsvg.setAttribute("onload", "alert(1)");\nsvg.appendChild(document.createElement("script")).textContent = "alert(1)";\nreturn svg;',
      {},
    );
    expect(dirty.svg).toMatch(/^<svg /);
    expect(dirty.svg).not.toMatch(/onload|<script|alert/);
    // Escaped code can write its own answer; it is held to the same checks.
    const forged = await renderPlot('document.defaultView.process.stdout.write(JSON.stringify({ svg: "<svg><circle r=\\"1\\" onclick=\\"x()\\"></circle><foreignObject><p>x</p></foreignObject></svg>" }) + "\\n");\nwhile (true) {}', {});
    expect(forged.svg).toBe('<svg><circle r="1" /></svg>');
    expect(await failure(renderPlot('document.defaultView.process.stdout.write(JSON.stringify({ svg: "<svg></svg><script>alert(1)</script>" }) + "\\n");\nwhile (true) {}', {}))).toMatchObject({ code: 'plot-invalid-result' });
    expect(() => cleanPlotMarkup('<svg>' + 'x'.repeat(200) + '</svg>', 100)).toThrow(/The plot is 0\.0 MB of SVG, over the 0\.0 MB limit/);
    expect(() => cleanPlotMarkup('<div><svg></svg></div>')).toThrow(/not an <svg> or <figure> element/);
    expect(() => cleanPlotMarkup('<svg></svg>text')).toThrow(/not one <svg> or <figure> element/);
    expect(cleanPlotMarkup('<figure><h2>t</h2><svg><use href="https://x/y#z"></use><a href="javascript:x()"><text>a</text></a><style>@import url(x)</style></svg></figure>').svg).toBe('<figure><h2>t</h2><svg><a><text>a</text></a></svg></figure>');
  });
});

describe('plot cells in a headless notebook run', () => {
  const core = seededCore();
  const byId = (outcomes: CellOutcome[]) => Object.fromEntries(outcomes.map((o) => [o.id, o]));

  it("the tour's plot cell draws the Pareto plans as SVG dots", async () => {
    const nb = parseNotebook(readFileSync(join(ROOT, 'experiments/tour/tour.notebook.json'), 'utf8'));
    const o = byId(await runNotebook(core.api, nb, { plot: headlessPlotRunner() }));
    expect(o.payload).toMatchObject({ status: 'ok', value: { root: 'svg', svg: expect.stringMatching(/^<svg /) } });
    const svg = (o.payload as Extract<CellOutcome, { status: 'ok' }>).value as { svg: string };
    const plans = ((o.front as Extract<CellOutcome, { status: 'ok' }>).value as { front: { plans: unknown[] } }).front.plans;
    expect(svg.svg.match(/<circle /g)).toHaveLength(plans.length);
    expect(svg.svg).toContain('Latency (ms)');
    expect(svg.svg).toMatch(/<title>cut \d+: [\d.]+ ms<\/title>/);
  });

  it('an endless loop fails its own cell after ~3 s; the other cells, plots included, still come out', async () => {
    const cells: NotebookCell[] = [
      { id: 'q', kind: 'query', source: 'SELECT name, layer_count FROM models ORDER BY name' },
      { id: 'loop', kind: 'plot', source: '// reads: q\nwhile (true) {}' },
      { id: 'bars', kind: 'plot', source: '// reads: q\nreturn Plot.barX(data.q.objects, { x: "layer_count", y: "name" }).plot();' },
      { id: 'after', kind: 'query', source: 'SELECT 1 AS one' },
    ];
    const t0 = performance.now();
    const o = byId(await runNotebook(core.api, { cells }, { plot: headlessPlotRunner() }));
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(o.loop).toMatchObject({ status: 'error', error: { code: 'plot-timeout', message: expect.stringContaining('did not finish within 3 s') } });
    expect((o.loop as { ms: number }).ms).toBeGreaterThanOrEqual(3000);
    expect(o.q.status).toBe('ok');
    expect(o.after.status).toBe('ok');
    expect(o.bars).toMatchObject({ status: 'ok', value: { svg: expect.stringMatching(/^<svg .*<rect /s) } });
  });
});

/** Runs a probe script through the plot processes' launcher (spawnPlotProcess); resolves with its stdout lines and exit. */
function runProbe(script: string, timeoutMs = 20_000): Promise<{ lines: string[]; code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnPlotProcess(script);
    let out = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.stdin.end();
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`the probe did not finish: ${stderr}`))), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => (clearTimeout(timer), resolve({ lines: out.split('\n').filter(Boolean), code, signal, stderr })));
  });
}

/** Checked here independently of plotProcess.ts's own probe, so that a broken probe cannot skip the proof below. */
const unshareWorks =
  process.platform === 'linux' &&
  (spawnSync('unshare', ['--net', '--map-root-user', 'true']).status === 0 || (process.getuid?.() === 0 && spawnSync('unshare', ['--net', 'true']).status === 0));

describe('plot processes are cut off from the network (Linux: a fresh network namespace via unshare)', () => {
  let dir: string;
  beforeAll(() => {
    // A real path: the permission model compares real paths, and the probes must be readable under it.
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'partita-plot-net-')));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const probe = (name: string, js: string): string => {
    const path = join(dir, name);
    writeFileSync(path, js);
    return path;
  };

  it('the launcher wraps node in `unshare --net` exactly when the network can be cut', () => {
    expect(plotNetworkCut()).toBe(unshareWorks);
    const script = probe('noop.mjs', '');
    const { command, args } = plotProcessCommand(script);
    const node = plotProcessArgs(script);
    expect(args.slice(-node.length)).toEqual(node);
    if (plotNetworkCut()) {
      expect(basename(command)).toBe('unshare');
      expect(args.slice(0, args.indexOf('--'))).toContain('--net');
      expect(args.slice(args.indexOf('--') + 1)).toEqual([process.execPath, ...node]);
      expect(plotNetworkWarning()).toBeNull();
    } else {
      expect(command).toBe(process.execPath);
      expect(args).toEqual(node);
      expect(plotNetworkWarning()).toMatch(/^warning: plot cells run without network isolation here .+\.$/);
    }
  });

  it.skipIf(!unshareWorks)('code in a plot process cannot connect to a TCP server on 127.0.0.1 (no network at all), though the same script can outside', async () => {
    const seen: string[] = [];
    const server = createServer((s) => (seen.push(String(s.remotePort)), s.destroy()));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const { port } = server.address() as AddressInfo;
    try {
      const script = probe(
        'connect.mjs',
        `import net from 'node:net';
import os from 'node:os';
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
say({ interfaces: Object.keys(os.networkInterfaces()) });
const s = net.connect(${port}, '127.0.0.1');
const timer = setTimeout(() => (say({ outcome: 'timeout' }), s.destroy()), 5000);
s.on('connect', () => (say({ outcome: 'connected' }), s.destroy()));
s.on('error', (e) => say({ outcome: 'error', code: e.code }));
s.on('close', () => clearTimeout(timer));
`,
      );
      // The control: the same script without the launcher reaches the server, so a refusal below is the sandbox's doing.
      const free = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
      expect(free.stdout).toContain('{"outcome":"connected"}');
      await new Promise((r) => setTimeout(r, 50));
      expect(seen).toHaveLength(1);

      const r = await runProbe(script);
      expect(r.code, r.stderr).toBe(0);
      const said = r.lines.map((l) => JSON.parse(l));
      // A fresh namespace: no interface with an address (loopback is down), hence no route anywhere.
      expect(said[0]).toEqual({ interfaces: [] });
      expect(said[1]).toMatchObject({ outcome: 'error', code: expect.stringMatching(/^(ENETUNREACH|ECONNREFUSED|EHOSTUNREACH|EADDRNOTAVAIL)$/) });
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).toHaveLength(1);
    } finally {
      await new Promise((ok) => server.close(ok));
    }
  });

  it('the pid of the launched process is node’s (unshare execs it), so killing it kills the code', async () => {
    const script = probe('spin.mjs', "process.stdout.write(process.pid + '\\n');\nsetInterval(() => {}, 1000);\n");
    const child = spawnPlotProcess(script);
    child.stdin.end();
    const pid = await new Promise<number>((resolve, reject) => {
      child.stdout.setEncoding('utf8').once('data', (c: string) => resolve(Number(c.trim())));
      child.once('exit', (code) => reject(new Error(`exited early (${code})`)));
    });
    expect(pid).toBe(child.pid);
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, signal) => r(signal)));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });

  it('plot cells still draw inside it', async () => {
    const fig = await renderPlot('return Plot.dot([[1, 2], [2, 3]]).plot();', {});
    expect(fig.svg).toMatch(/^<svg .*<circle .*<circle /s);
  });

  it('`partita notebook run` warns once on stderr when the cut is unavailable (unshare not on PATH), and not otherwise', () => {
    const emptyBin = mkdtempSync(join(dir, 'bin-'));
    const file = probe('plot.notebook.json', JSON.stringify({ name: 'plot', cells: [{ id: 'p', kind: 'plot', source: 'return Plot.frame().plot();' }] }));
    const run = (env: NodeJS.ProcessEnv) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [join(ROOT, 'bin/partita.js'), '--db', join(dir, 'cli.db'), 'notebook', 'run', file], { cwd: ROOT, env });
        let stdout = '';
        let stderr = '';
        c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        c.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    return Promise.all([run({ ...process.env, PATH: emptyBin }), run(process.env)]).then(([without, normal]) => {
      expect(without.code, without.stderr).toBe(0);
      expect(without.stdout).toMatch(/^cell p \(plot\): ok in [\d.]+ ms, plot: SVG, \d+ bytes$/m);
      expect(without.stderr).toMatch(/^warning: plot cells run without network isolation here \(`unshare --net` is unavailable: not Linux, or user namespaces are forbidden\), so plot code that escapes Node's permission model could reach the network; run only notebooks you trust\.\n$/);
      expect(normal.code, normal.stderr).toBe(0);
      expect(normal.stdout).toMatch(/^cell p \(plot\): ok in /m);
      expect(normal.stderr).toBe(plotNetworkCut() ? '' : without.stderr);
    });
  });
});
