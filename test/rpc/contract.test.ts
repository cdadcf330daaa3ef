/**
 * One contract suite, three transports (ARCHITECTURE.md, "One API, several transports"): the in-memory pair, a
 * real WebSocket to the API server on 127.0.0.1 (from Node's wsPort and from the page's browserWsPort), and
 * Electron-style IPC (faked). Whatever the transport, the caller sees the same results, the same validation
 * errors, the same revived CoreErrors and the same job events.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ApiEvents, ApiJobResult, ApiParsedArg, JobProgress, ModelSummary } from '../../core/api/contract.js';
import { CoreError } from '../../core/api/errors.js';
import { startApiServer, type ApiServer } from '../../core/host/apiServer.js';
import { WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX, connectWsPort } from '../../core/host/wsPort.js';
import { browserWsPort } from '../../core/rpc/browserWsPort.js';
import { connectApi, type ApiClient, type ConnectOptions } from '../../core/rpc/client.js';
import { ipcMainPort, ipcRendererPort } from '../../core/rpc/ipcPort.js';
import { JobManager } from '../../core/rpc/jobs.js';
import { memoryPorts } from '../../core/rpc/port.js';
import { serveApi, type ApiHandlers, type ServeOptions } from '../../core/rpc/server.js';
import { fakeIpc } from './fakeIpc.js';

const MiB = 2 ** 20;

const MODEL: ModelSummary = {
  id: 1,
  sha256: 'ab'.repeat(32),
  name: 'fmnist-cnn',
  sourcePath: '/zoo/fmnist-cnn.onnx',
  bytes: 412_345,
  irVersion: 8,
  opset: 17,
  producer: 'pytorch 1.13',
  layerCount: 9,
  paramCount: 101_770,
  weightBytes: 407_080,
  inputs: [{ name: 'image', dataType: 'float', dims: ['N', 1, 28, 28] }],
  outputs: [{ name: 'logits', dataType: 'float', dims: ['N', 10] }],
  importedAt: '2025-01-02T03:04:05.000Z',
};

const PROFILE: ApiJobResult<'profile.run'> = {
  static: {
    id: 3,
    modelId: 1,
    kind: 'static',
    settingsHash: 'cafe',
    settings: { inputDims: { image: [1, 1, 28, 28] } },
    summary: { params: 101_770, macs: 2_300_000 },
    createdAt: '2025-01-02T03:04:06.000Z',
    layers: [
      { position: 1, name: '/conv1/Conv', opType: 'Conv', params: 160, weightBytes: 640, macs: 100_352, flops: 200_704, costModel: 'conv', outElements: 12_544, outBytes: 50_176, latencyMs: null, latencyP90Ms: null },
    ],
    tensors: [{ name: 'image', dataType: 'float', dims: [1, 1, 28, 28], bytes: 3136 }],
  },
  cached: { static: false },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Log {
  calls: string[];
  lastArg: unknown;
  steps: number;
  aborted: boolean;
  internalErrors: unknown[];
}

/** A small handler set with the behaviours the contract promises: data, a job, a CoreError, a bug. */
function fakeHandlers(jobs: JobManager, log: Log): Partial<ApiHandlers> {
  return {
    'models.list': () => (log.calls.push('models.list'), { models: [MODEL] }),
    'models.get': ({ model }) => {
      log.calls.push('models.get');
      if (model === MODEL.name || model === MODEL.id) return { model: MODEL };
      throw new CoreError('model-unknown', `No model '${model}' in the database. Known models: fmnist-cnn.`, { known: ['fmnist-cnn'] });
    },
    'models.layers': () => {
      log.calls.push('models.layers');
      throw new Error('layer table out of sync: position 3 missing\n    at secretHelper (/home/someone/partita/core/store/x.ts:12:3)');
    },
    'profile.run': (arg: ApiParsedArg<'profile.run'>, ctx) => {
      log.calls.push('profile.run');
      log.lastArg = arg;
      return jobs.start(ctx, 'profile.run', async (job) => {
        for (let i = 1; i <= arg.runs; i++) {
          if (job.signal.aborted) {
            log.aborted = true;
            throw job.signal.reason;
          }
          await sleep(arg.runs > 10 ? 5 : 1);
          log.steps++;
          job.progress('latency', i, arg.runs);
        }
        return PROFILE;
      });
    },
    'jobs.cancel': ({ jobId }) => jobs.cancel(jobId),
    'eval.run': ({ model, dataset }, ctx) =>
      // The host's evaluateModel also returns the predictions as a Uint8Array: a job must not hang on that.
      jobs.start(ctx, 'eval.run', async () => ({ model: String(model), dataset, top1: 0.9, correct: 9, count: 10, predictions: new Uint8Array(10) })),
    'sensitivity.run': ({ dataset }, ctx) =>
      jobs.start(ctx, 'sensitivity.run', async () => {
        throw new CoreError('dataset-unknown', `No dataset '${dataset}'. Known datasets: fashion-mnist-test.`, { known: ['fashion-mnist-test'] });
      }),
    'datasets.list': async () => {
      await sleep(300);
      return { datasets: [] };
    },
    'devices.list': () => ({ devices: [], extra: new Map([[1, 2]]) }) as never,
    'store.query': ({ maxRows }) => ({ columns: ['x'], rows: Array.from({ length: maxRows }, () => ['y'.repeat(1000)]), truncated: false }),
    'notebooks.save': ({ notebook }) => ({ notebook: { ...notebook, id: notebook.id ?? 'nb-1', updatedAt: '2025-01-02T03:04:07.000Z' } }),
  };
}

interface Harness {
  api: ApiClient;
  /** Whether closing the caller's end closes the core's end too (not so for IPC: only a destroyed window does). */
  closesServerSide: boolean;
  dispose(): Promise<void>;
}

type Transport = (handlers: Partial<ApiHandlers>, serve: ServeOptions, client: ConnectOptions) => Promise<Harness>;

let staticDir: string;
beforeAll(() => {
  staticDir = mkdtempSync(join(tmpdir(), 'partita-static-'));
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>Partita</title>');
});
afterAll(() => rmSync(staticDir, { recursive: true, force: true }));

const TRANSPORTS: [string, Transport][] = [
  [
    'in-memory',
    async (handlers, serve, client) => {
      const [core, caller] = memoryPorts();
      const conn = serveApi(core, handlers, serve);
      const api = connectApi(caller, client);
      return { api, closesServerSide: true, dispose: async () => (api.close(), conn.close()) };
    },
  ],
  [
    'WebSocket',
    async (handlers, serve, client) => {
      const server: ApiServer = await startApiServer({ handlers, staticDir, serve, maxMessageBytes: serve.maxMessageBytes });
      const port = await connectWsPort(server.wsUrl, { token: server.token });
      const api = connectApi(port, client);
      return { api, closesServerSide: true, dispose: async () => (api.close(), await server.close()) };
    },
  ],
  [
    // The renderer's own port in browser mode, over the ws client (it has the browser's WebSocket API); the
    // first requests go out before the socket is open.
    'WebSocket from the page',
    async (handlers, serve, client) => {
      const server: ApiServer = await startApiServer({ handlers, staticDir, serve, maxMessageBytes: serve.maxMessageBytes });
      const ws = new WebSocket(server.wsUrl, [WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX + server.token], { origin: server.origin });
      const api = connectApi(browserWsPort(ws), client);
      return { api, closesServerSide: true, dispose: async () => (api.close(), await server.close()) };
    },
  ],
  [
    'fake Electron IPC',
    async (handlers, serve, client) => {
      const ipc = fakeIpc();
      const conn = serveApi(ipcMainPort(ipc.ipcMain, ipc.webContents), handlers, serve);
      const api = connectApi(ipcRendererPort(ipc.ipcRenderer), client);
      return { api, closesServerSide: false, dispose: async () => (api.close(), conn.close(), ipc.webContents.destroy()) };
    },
  ],
];

describe.each(TRANSPORTS)('the API contract over %s', (_name, transport) => {
  let h: Harness;
  let api: ApiClient;
  let log: Log;
  let jobs: JobManager;

  beforeEach(async () => {
    log = { calls: [], lastArg: undefined, steps: 0, aborted: false, internalErrors: [] };
    jobs = new JobManager({ progressIntervalMs: 0, validateResults: true, onInternalError: (e) => log.internalErrors.push(e) });
    h = await transport(
      fakeHandlers(jobs, log),
      { validateResults: true, maxMessageBytes: MiB, onInternalError: (e) => log.internalErrors.push(e) },
      { maxMessageBytes: MiB },
    );
    api = h.api;
  });
  afterEach(async () => {
    jobs.cancelAll();
    await h.dispose();
  });

  const rejection = async (p: Promise<unknown>): Promise<CoreError> => {
    const e = await p.then(
      () => {
        throw new Error('expected the call to fail');
      },
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(CoreError);
    return e as CoreError;
  };

  it('answers a call with the handler result, copied rather than shared', async () => {
    const first = await api['models.list']();
    expect(first).toEqual({ models: [MODEL] });
    first.models[0].name = 'changed by the caller';
    expect((await api['models.list']({})).models[0].name).toBe('fmnist-cnn');
    expect(await api['models.get']({ model: 1 })).toEqual({ model: MODEL });
  });

  it('hands the handler the validated argument with its defaults applied', async () => {
    await api.runJob('profile.run', { model: 'fmnist-cnn', runs: 2 });
    expect(log.lastArg).toEqual({ model: 'fmnist-cnn', runs: 2, latency: false, warmup: 3, threads: 1 });
  });

  it('rejects a bad argument with its path in words, before the handler runs', async () => {
    const e = await rejection(api['profile.run']({ model: 'fmnist-cnn', runs: -1 }));
    expect(e.code).toBe('rpc-invalid-argument');
    expect(e.message).toMatch(/^Invalid argument for 'profile\.run': runs is -1 \(too small: expected number to be >0\)\. /);
    expect(e.details).toMatchObject({ method: 'profile.run', path: 'runs' });

    const nested = await rejection(
      api['notebooks.save']({
        notebook: { name: 'n', cells: [{ id: 'a', kind: 'markdown', source: '# hi' }, { id: 'b', kind: 'chart' as 'plot', source: '' }] },
      }),
    );
    expect(nested.code).toBe('rpc-invalid-argument');
    expect(nested.message).toContain("notebook.cells[1].kind is 'chart'");
    expect(nested.details).toMatchObject({ path: 'notebook.cells[1].kind' });

    const dup = await rejection(
      api['notebooks.save']({ notebook: { name: 'n', cells: [{ id: 'a', kind: 'markdown', source: '' }, { id: 'a', kind: 'query', source: '' }] } }),
    );
    expect(dup.message).toContain('notebook.cells[1].id');
    expect(dup.message).toContain('duplicate cell id "a"');

    const missing = await rejection(api.call('models.get', {}));
    expect(missing.message).toContain('model is missing');
    const unknownKey = await rejection(api.call('models.list', { verbose: true }));
    expect(unknownKey.message).toContain("the argument has unknown key 'verbose'");
    const notObject = await rejection(api.call('models.get', 'fmnist-cnn'));
    expect(notObject.message).toContain("the argument is 'fmnist-cnn'");
    expect(log.calls).toEqual([]);
  });

  it('revives a CoreError with its code, message and details', async () => {
    const e = await rejection(api['models.get']({ model: 'nope' }));
    expect(e.name).toBe('CoreError');
    expect(e.code).toBe('model-unknown');
    expect(e.message).toBe("No model 'nope' in the database. Known models: fmnist-cnn.");
    expect(e.details).toEqual({ known: ['fmnist-cnn'] });
  });

  it('hides a plain Error behind internal-error: no stack crosses, the core logs the original', async () => {
    const e = await rejection(api['models.layers']({ model: 1 }));
    expect(e.code).toBe('internal-error');
    expect(e.message).toBe("Internal error: layer table out of sync: position 3 missing. This is a bug in 'models.layers'; the core's log has the details.");
    expect(e.message).not.toContain('secretHelper');
    expect(e.details).toBeUndefined();
    expect(log.internalErrors).toHaveLength(1);
    expect((log.internalErrors[0] as Error).stack).toContain('secretHelper');
  });

  it('treats an answer that is not JSON as an internal error', async () => {
    const e = await rejection(api['devices.list']());
    expect(e.code).toBe('internal-error');
    expect(e.message).toContain('result.extra is a Map');
  });

  it('delivers a job’s progress in order, then job.done with the result', async () => {
    const seen: string[] = [];
    const offProgress = api.on('job.progress', (p) => seen.push(`progress ${p.done}/${p.total}`));
    const offDone = api.on('job.done', (d: ApiEvents['job.done']) => seen.push(`done ${'result' in d ? 'result' : 'error'}`));
    const mine: JobProgress[] = [];
    const result = await api.runJob('profile.run', { model: 'fmnist-cnn', runs: 5 }, { onProgress: (p) => mine.push(p) });
    expect(result).toEqual(PROFILE);
    expect(mine.map((p) => [p.stage, p.done, p.total])).toEqual([1, 2, 3, 4, 5].map((i) => ['latency', i, 5]));
    await sleep(20);
    expect(seen).toEqual(['progress 1/5', 'progress 2/5', 'progress 3/5', 'progress 4/5', 'progress 5/5', 'done result']);
    offProgress();
    offDone();
  });

  it('ends a failing job with its CoreError, and a job whose result cannot be sent with an internal error', async () => {
    const e = await rejection(api.runJob('sensitivity.run', { model: 1, dataset: 'cifar' }));
    expect(e.code).toBe('dataset-unknown');
    expect(e.details).toEqual({ known: ['fashion-mnist-test'] });
    const bad = await rejection(api.runJob('eval.run', { model: 1, dataset: 'fashion-mnist-test' }));
    expect(bad.code).toBe('internal-error');
    expect(bad.message).toContain("the result of job 'eval.run' is not JSON: result.predictions is a Uint8Array");
    expect(jobs.active).toEqual([]);
  });

  it('answers a job method with its id at once, before any event of that job', async () => {
    const order: string[] = [];
    api.on('job.progress', () => order.push('progress'));
    const started = await api['profile.run']({ model: 'fmnist-cnn', runs: 3 });
    order.push(`started ${started.jobId}`);
    expect(started.jobId).toMatch(/^job-\d+$/);
    await new Promise<void>((r) => api.on('job.done', (d) => d.jobId === started.jobId && r()));
    expect(order).toEqual([`started ${started.jobId}`, 'progress', 'progress', 'progress']);
  });

  it('cancels a job: it stops early and job.done carries the code cancelled', async () => {
    let jobId = '';
    let cancelAnswer: Promise<unknown> | undefined;
    const run = api.runJob('profile.run', { model: 'fmnist-cnn', runs: 200 }, {
      onProgress: (p) => {
        jobId = p.jobId;
        if (p.done === 2) cancelAnswer = api['jobs.cancel']({ jobId });
      },
    });
    const e = await rejection(run);
    expect(e.code).toBe('cancelled');
    expect(e.message).toBe(`Job '${jobId}' (profile.run) was cancelled.`);
    expect(await cancelAnswer).toEqual({ cancelled: true });
    expect(log.aborted).toBe(true);
    expect(log.steps).toBeLessThan(150);
    expect(jobs.active).toEqual([]);
    expect(await api['jobs.cancel']({ jobId })).toEqual({ cancelled: false });
    expect((await rejection(api['jobs.cancel']({ jobId: 'job-999' }))).code).toBe('job-unknown');
  });

  it('cancels a job through an AbortSignal', async () => {
    const ac = new AbortController();
    const run = api.runJob('profile.run', { model: 'fmnist-cnn', runs: 200 }, { signal: ac.signal, onProgress: (p) => p.done === 1 && ac.abort() });
    expect((await rejection(run)).code).toBe('cancelled');
    expect(log.steps).toBeLessThan(150);
  });

  it('refuses an unknown method, including names of Object.prototype', async () => {
    const e = await rejection(api.call('models.delete', { model: 1 }));
    expect(e.code).toBe('rpc-unknown-method');
    expect(e.message).toMatch(/^Unknown method 'models\.delete'\. Known methods: models\.list, models\.import, /);
    expect((await rejection(api.call('constructor', {}))).code).toBe('rpc-unknown-method');
    expect((await rejection(api.call('__proto__', {}))).code).toBe('rpc-unknown-method');
  });

  it('says when a method of the contract has no handler in this core', async () => {
    expect((await rejection(api['links.list']())).code).toBe('rpc-not-implemented');
  });

  it('refuses, at the sender, an argument that is not JSON or too large', async () => {
    const typed = await rejection(api.call('models.import', { path: new Float32Array(2) }));
    expect(typed.code).toBe('rpc-not-json');
    expect(typed.message).toContain('arg.path is a Float32Array');
    const nan = await rejection(api.call('profile.run', { model: 'm', runs: NaN }));
    expect(nan.code).toBe('rpc-not-json');
    expect(nan.message).toContain('arg.runs is NaN');
    const big = await rejection(api['models.import']({ path: 'x'.repeat(2 * MiB) }));
    expect(big.code).toBe('rpc-message-too-large');
    expect(big.message).toMatch(/is 2\.0 MiB, over the 1\.0 MiB limit/);
    expect(log.calls).toEqual([]);
  });

  it('refuses to send an answer over the size limit, and says so', async () => {
    const e = await rejection(api['store.query']({ sql: 'SELECT x FROM t', maxRows: 2000 }));
    expect(e.code).toBe('rpc-message-too-large');
    expect(e.message).toMatch(/^The answer of 'store\.query' is 1\.9 MiB, over the 1\.0 MiB limit/);
  });

  it('rejects pending calls when the connection closes, and cancels the jobs of a departed caller', async () => {
    const pending = api['datasets.list']();
    const started = await api['profile.run']({ model: 'fmnist-cnn', runs: 200 });
    await sleep(30);
    api.close();
    const e = await rejection(pending);
    expect(e.code).toBe('rpc-closed');
    expect((await rejection(api['models.list']())).code).toBe('rpc-closed');
    if (h.closesServerSide) {
      for (let i = 0; i < 100 && jobs.active.includes(started.jobId); i++) await sleep(10);
      expect(jobs.active).toEqual([]);
      expect(log.aborted).toBe(true);
    }
  });
});

describe('the IPC main port', () => {
  it('ignores messages from another window and closes when its window is destroyed', async () => {
    const ipc = fakeIpc();
    const mainPort = ipcMainPort(ipc.ipcMain, ipc.webContents);
    const received: unknown[] = [];
    mainPort.onMessage((m) => received.push(m));
    let closed = false;
    mainPort.onClose!(() => (closed = true));
    ipc.otherRenderer.send('partita:rpc', { id: 1, method: 'models.list', arg: {} });
    ipc.ipcRenderer.send('partita:rpc', { id: 2, method: 'models.list', arg: {} });
    await sleep(10);
    expect(received).toEqual([{ id: 2, method: 'models.list', arg: {} }]);
    ipc.webContents.destroy();
    expect(closed).toBe(true);
    expect(ipc.ipcMain.listenerCount('partita:rpc')).toBe(0);
  });
});
