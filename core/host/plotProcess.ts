/**
 * Plot cells without the workbench (`partita notebook run`): each cell's Observable Plot code runs in its own
 * short-lived Node process (plotChild.ts, bundled with Plot and linkedom into dist/plotChild.mjs), started under
 * Node's permission model so that it may read that one file and nothing else, write nothing, start no processes or
 * workers and load no addons. It gets the values of the cells it reads as JSON on stdin and answers SVG on stdout;
 * it is killed (SIGKILL) when the code runs past 3 s, as the workbench's worker is terminated. What it answers is
 * checked and cleaned (plotSvg.ts) before anything keeps it.
 *
 * The network: Node 20's permission model has no network permission, so code that escapes the vm context (see
 * plotChild.ts) could open sockets. On Linux the process is therefore started inside a fresh network namespace
 * (`unshare --net --map-root-user -- node …`: an unprivileged user namespace owning a network namespace whose only
 * interface is a loopback that is down, so there is no route anywhere, not even to 127.0.0.1). unshare without
 * --fork execs node, so the child's pid is node's and the 3 s SIGKILL reaches it. Whether unshare works is probed
 * once (networkSandbox()).
 *
 * Limitation: where unshare is missing or refused (macOS, Windows, a kernel or container that forbids user
 * namespaces) the process runs as before, under the permission model only, and CAN reach the network; the
 * workbench's worker is cut off from the network either way. plotNetworkCut() says which case holds, and
 * `partita notebook run` prints a warning (plotNetworkWarning) when a notebook with plot cells runs without the cut.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { CoreError } from '../api/errors.js';
import type { PlotRunner } from '../notebook/cells.js';
import { packageRoot } from './packageRoot.js';
import { cleanPlotMarkup, PLOT_MAX_BYTES, type PlotMarkup } from './plotSvg.js';

/** How long the plot code may run, as in the workbench (renderer/notebook/view.ts). */
export const PLOT_TIMEOUT_MS = 3000;

export interface PlotProcessOptions {
  /** The code's time limit, from the moment the process has loaded Plot and read its input (default 3 s). */
  timeoutMs?: number;
  /** The limit for starting the process, loading Plot and reading the input (default 20 s: a busy machine is slow, not stuck). */
  startupTimeoutMs?: number;
  maxBytes?: number;
  /** The bundled plot process (default: dist/plotChild.mjs of this package). */
  runner?: string;
  signal?: AbortSignal;
}

/** The value a headless plot cell shows: the workbench's `{ svg }`, plus what the report needs. */
export type PlotValue = PlotMarkup;

/** The bundled plot process, resolved (the permission model compares real paths). */
export function plotRunnerPath(): string {
  const path = join(packageRoot(), 'dist', 'plotChild.mjs');
  if (!existsSync(path)) throw new CoreError('plot-runner-missing', `The headless plot runner '${path}' is not built. Run \`npm run build\` in Partita's folder, then run the notebook again.`);
  return realpathSync(path);
}

/** Node's flag for the permission model: `--permission` from Node 22.13/23.5, `--experimental-permission` before. */
function permissionFlag(): string {
  return process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
}

/** The child's command line: reads allowed for the bundle only, nothing else allowed (no --allow-* for writes, processes, workers, addons, WASI). */
export function plotProcessArgs(runner: string): string[] {
  // Node 20 splits --allow-fs-read on commas: a comma in the path would widen or break the allowance.
  if (runner.includes(',')) throw new CoreError('plot-runner-path', `The plot runner's path '${runner}' contains a comma, which Node's --allow-fs-read cannot express. Move Partita to a folder without commas in its path.`);
  return [permissionFlag(), `--allow-fs-read=${runner}`, '--disallow-code-generation-from-strings', '--max-old-space-size=512', '--no-warnings', runner];
}

/** A command that starts the plot process: `command` run with `args` (the program to run is appended). */
export interface SandboxCommand {
  command: string;
  args: string[];
}

let probed: SandboxCommand | null | undefined;

/** An executable file named `name` in a folder of PATH (the folders execvp would try when PATH is unset). */
function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * The prefix that starts a program in a fresh network namespace (`unshare --net --map-root-user --`; as root,
 * `unshare --net --` where a user namespace is refused), or null where none works: not Linux, no unshare on PATH,
 * or the kernel refuses. Probed once, by running this Node in the namespace, then cached.
 */
export function networkSandbox(): SandboxCommand | null {
  if (probed !== undefined) return probed;
  probed = null;
  if (process.platform !== 'linux') return probed;
  const unshare = onPath('unshare');
  if (!unshare) return probed;
  const tries = [['--net', '--map-root-user'], ...(process.getuid?.() === 0 ? [['--net']] : [])];
  for (const flags of tries) {
    const r = spawnSync(unshare, [...flags, '--', process.execPath, '--version'], { env: {}, stdio: 'ignore', timeout: 10_000 });
    if (r.status === 0) return (probed = { command: unshare, args: [...flags, '--'] });
  }
  return probed;
}

/** Whether plot processes are cut off from the network here (see the header). */
export function plotNetworkCut(): boolean {
  return networkSandbox() !== null;
}

/** The one line `partita notebook run` prints to stderr when plot cells run with the network reachable; null when it is cut. */
export function plotNetworkWarning(): string | null {
  if (plotNetworkCut()) return null;
  return "warning: plot cells run without network isolation here (`unshare --net` is unavailable: not Linux, or user namespaces are forbidden), so plot code that escapes Node's permission model could reach the network; run only notebooks you trust.";
}

/** The full command line of a plot process for `script`: the permission model's flags, inside the network cut where there is one. */
export function plotProcessCommand(script: string): SandboxCommand {
  const node = plotProcessArgs(script);
  const net = networkSandbox();
  return net ? { command: net.command, args: [...net.args, process.execPath, ...node] } : { command: process.execPath, args: node };
}

/**
 * Starts `script` (a real path) as a plot process: Node's permission model allowing reads of that one file, no
 * environment but TZ, and no network where unshare works. renderPlot runs the bundled plot process this way; the
 * tests run their own probes through the same launcher.
 */
export function spawnPlotProcess(script: string): ChildProcessWithoutNullStreams {
  const { command, args } = plotProcessCommand(script);
  // No environment: nothing of the parent's (tokens, proxies, NODE_OPTIONS) is there for escaped code to read
  // or for Node to act on. TZ is kept so that time scales draw as they do in the parent.
  const env: Record<string, string> = process.env.TZ ? { TZ: process.env.TZ } : {};
  return spawn(command, args, { cwd: dirname(script), env, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
}

function errorFromChild(kind: string | undefined, text: string): CoreError {
  const end = (s: string) => (/[.!?]$/.test(s) ? s : `${s}.`);
  switch (kind) {
    case 'compile':
      return new CoreError('plot-failed', `The plot code does not compile: ${end(text)} Fix the cell's code.`);
    case 'result':
      return new CoreError('plot-invalid-result', `The plot code returned ${text}, not a plot. Return a Plot figure (Plot.plot(…) or mark.plot(…)) or a mark.`);
    case 'code':
      return new CoreError('plot-failed', `The plot code failed: ${end(text)} Fix the cell's code.`);
    default:
      return new CoreError('plot-process-failed', `The plot process failed: ${end(text)}`);
  }
}

/** Draws one plot cell in a fresh plot process; resolves with the cleaned markup, rejects with a CoreError. */
export function renderPlot(code: string, data: Record<string, unknown>, o: PlotProcessOptions = {}): Promise<PlotValue> {
  const timeoutMs = o.timeoutMs ?? PLOT_TIMEOUT_MS;
  const maxBytes = o.maxBytes ?? PLOT_MAX_BYTES;
  let input: string;
  try {
    input = JSON.stringify({ code, data });
  } catch (e) {
    return Promise.reject(new CoreError('plot-data-invalid', `The values this plot cell reads cannot be passed to the plot process as JSON (${(e as Error).message}).`));
  }
  let runner: string;
  try {
    runner = o.runner ?? plotRunnerPath();
    // Checked here, before spawning, so that a path the permission model cannot express is a rejection.
    plotProcessArgs(runner);
  } catch (e) {
    return Promise.reject(e);
  }
  if (o.signal?.aborted) return Promise.reject(new DOMException('Superseded by a newer evaluation.', 'AbortError'));

  return new Promise<PlotValue>((resolve, reject) => {
    const child = spawnPlotProcess(runner);
    let settled = false;
    let ready = false;
    let out = '';
    let err = '';
    // JSON escaping can double the size of markup; past this the answer is over the limit whatever it says.
    const maxStdout = 2 * maxBytes + 64 * 1024;

    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      outcome();
    };
    const fail = (e: unknown) => finish(() => reject(e));
    let timer = setTimeout(() => {
      fail(new CoreError('plot-timeout', `The plot process did not start within ${Math.round((o.startupTimeoutMs ?? 20_000) / 1000)} s and was stopped. The machine may be overloaded; run the notebook again.`));
    }, o.startupTimeoutMs ?? 20_000);
    const onAbort = () => fail(new DOMException('Superseded by a newer evaluation.', 'AbortError'));
    o.signal?.addEventListener('abort', onAbort);

    const onLine = (line: string) => {
      if (!line.trim()) return;
      let m: { ready?: unknown; svg?: unknown; error?: unknown; kind?: unknown };
      try {
        m = JSON.parse(line) as typeof m;
      } catch {
        return fail(new CoreError('plot-process-failed', `The plot process answered something that is not its protocol (${JSON.stringify(line.slice(0, 80))}). Plot code must not write to stdout.`));
      }
      if (!m || typeof m !== 'object') return fail(new CoreError('plot-process-failed', `The plot process answered ${JSON.stringify(line.slice(0, 80))}, which is not its protocol. Plot code must not write to stdout.`));
      if (m.ready === true && !ready) {
        ready = true;
        clearTimeout(timer);
        timer = setTimeout(() => {
          fail(new CoreError('plot-timeout', `The plot code did not finish within ${timeoutMs / 1000} s and was stopped (an endless loop?). Plot cells get ${timeoutMs / 1000} s, as in the workbench; make it finish sooner (fewer marks, no loops that wait).`));
        }, timeoutMs);
      } else if ('svg' in m || 'error' in m) settle(m);
    };
    // The first answer settles the cell at once (the process is killed if it has not exited yet).
    const settle = (a: { svg?: unknown; error?: unknown; kind?: unknown }) => {
      if (typeof a.error === 'string') return fail(errorFromChild(typeof a.kind === 'string' ? a.kind : undefined, a.error.length > 2000 ? `${a.error.slice(0, 2000)}…` : a.error));
      try {
        const markup = cleanPlotMarkup(a.svg, maxBytes);
        finish(() => resolve(markup));
      } catch (e) {
        fail(e);
      }
    };

    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.length > maxStdout) return fail(new CoreError('plot-too-large', `The plot process answered more than ${(maxStdout / 1024 / 1024).toFixed(0)} MB, over the ${(maxBytes / 1024 / 1024).toFixed(0)} MB limit for a plot. Draw fewer marks: sample, bin or aggregate the data first.`));
      let nl: number;
      while (!settled && (nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        onLine(line);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (err.length < 16_384) err += chunk;
    });
    child.on('error', (e) => fail(new CoreError('plot-process-failed', `The plot process could not start (${e.message}).`)));
    // The child may die before it has read its input (EPIPE); its exit says why.
    child.stdin.on('error', () => {});
    child.stdin.end(input);

    child.on('close', (exitCode, signal) => {
      if (settled) return;
      if (out.trim()) onLine(out);
      if (settled) return;
      const why = err.trim().split('\n').filter((l) => l.trim()).slice(-3).join(' ').slice(0, 500);
      const oom = /heap out of memory|Allocation failed/i.test(err);
      fail(
        new CoreError(
          'plot-process-failed',
          `The plot process exited (${signal ? `signal ${signal}` : `code ${exitCode}`}) without drawing${oom ? ': it ran out of memory (512 MB)' : why ? `: ${why}` : ''}. ${oom ? 'Draw fewer marks or smaller data.' : "Check the cell's code."}`,
        ),
      );
    });
  });
}

/**
 * A PlotRunner for runNotebook: each cell in its own plot process, at most as many at once as there are cores (the
 * 3 s of a cell start only when its process is up, so waiting in the queue costs it nothing).
 */
export function headlessPlotRunner(o: Omit<PlotProcessOptions, 'signal'> = {}): PlotRunner {
  const slots = Math.max(1, availableParallelism());
  let running = 0;
  const queue: (() => void)[] = [];
  const acquire = () => (running < slots ? (running++, Promise.resolve()) : new Promise<void>((r) => queue.push(() => (running++, r()))));
  const release = () => {
    running--;
    queue.shift()?.();
  };
  return async (code, inputs, signal) => {
    await acquire();
    try {
      return await renderPlot(code, inputs, { ...o, signal });
    } finally {
      release();
    }
  };
}
