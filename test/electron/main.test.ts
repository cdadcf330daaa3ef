/**
 * The Electron main process (electron/desktop.ts) and the bundled preload, driven WITHOUT the Electron binary.
 *
 * Why a fake: Electron's binary cannot be downloaded on this machine (nor in CI), so the real `electron` module is
 * not available to run. Everything below the Electron API is real: the SQLite store in a temp folder, the seeded
 * zoo models, the handlers, serveApi/connectApi, ipcMainPort/ipcRendererPort, the agent hub, and the built
 * dist/electron/preload.cjs and dist/renderer (made by the global setup). The stand-in records what the main
 * process asks of Electron (window options, event handlers, session hooks, menus, dialogs) so the security
 * settings and the menu flows can be checked by calling the recorded handlers as Electron would.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectApi, type ApiClient } from '../../core/rpc/client.js';
import { IPC_CHANNEL, ipcRendererPort } from '../../core/rpc/ipcPort.js';
import type { Port } from '../../core/rpc/port.js';
import { SqliteStore } from '../../core/store/sqliteStore.js';
import { bundlePaths, ELECTRON_CSP, startDesktop, type Desktop } from '../../electron/desktop.js';
import type { BrowserWindow, ElectronMain, ElectronPreload, MenuItemOptions } from '../../electron/electronTypes.js';
import { PPOCR, ROOT, ZOO } from '../helpers.js';
import { fakeIpc, type FakeIpc } from '../rpc/fakeIpc.js';

type PreventableEvent = { preventDefault(): void; defaultPrevented: boolean };
const event = (): PreventableEvent => {
  const e = { defaultPrevented: false, preventDefault: () => void (e.defaultPrevented = true) };
  return e;
};
type Handler = (...args: any[]) => unknown;

/** What the stand-in recorded; `ipc` is the renderer side of the window's IPC. */
interface FakeElectron {
  electron: ElectronMain;
  ipc: FakeIpc;
  windows: { options: ConstructorParameters<ElectronMain['BrowserWindow']>[0]; win: BrowserWindow & { close(): void }; loaded: string[]; titles: string[]; contentsHandlers: Map<string, Handler[]>; openHandler?: Handler }[];
  appHandlers: Map<string, Handler[]>;
  headerHandler?: Handler;
  permissionHandler?: Handler;
  menus: MenuItemOptions[][];
  errorBoxes: { title: string; content: string }[];
  openDialogAnswers: string[][];
  recentDocuments: string[];
  quits: number;
}

function fakeElectron(userData: string): FakeElectron {
  const ipc = fakeIpc();
  const f: FakeElectron = {
    electron: undefined as unknown as ElectronMain,
    ipc,
    windows: [],
    appHandlers: new Map(),
    menus: [],
    errorBoxes: [],
    openDialogAnswers: [],
    recentDocuments: [],
    quits: 0,
  };
  const push = (m: Map<string, Handler[]>, ev: string, cb: Handler) => m.set(ev, [...(m.get(ev) ?? []), cb]);

  class FakeWindow {
    readonly webContents: BrowserWindow['webContents'];
    private readonly closed: (() => void)[] = [];
    constructor(options: FakeElectron['windows'][number]['options']) {
      let url = '';
      const rec: FakeElectron['windows'][number] = { options, win: this as unknown as FakeElectron['windows'][number]['win'], loaded: [], titles: [], contentsHandlers: new Map() };
      // One window: its webContents is the fake IPC's, so ipcMainPort's sender check sees the renderer's messages.
      this.webContents = Object.assign(ipc.webContents, {
        on: (ev: string, cb: Handler) => push(rec.contentsHandlers, ev, cb),
        setWindowOpenHandler: (h: Handler) => void (rec.openHandler = h),
        getURL: () => url,
      });
      this.loadFile = async (path: string) => {
        rec.loaded.push(path);
        url = pathToFileURL(path).href;
      };
      this.setTitle = (t: string) => void rec.titles.push(t);
      f.windows.push(rec);
    }
    loadFile: (path: string) => Promise<void>;
    setTitle: (t: string) => void;
    on(_ev: 'closed', cb: () => void) {
      this.closed.push(cb);
    }
    /** As Electron closes a window: its webContents is destroyed, then 'closed' is emitted. */
    close() {
      ipc.webContents.destroy();
      for (const cb of this.closed) cb();
    }
  }

  f.electron = {
    app: {
      whenReady: async () => {},
      on: (ev, cb) => push(f.appHandlers, ev, cb),
      quit: () => void f.quits++,
      getPath: () => userData,
      addRecentDocument: (p) => void f.recentDocuments.push(p),
      clearRecentDocuments: () => void (f.recentDocuments = []),
      isPackaged: false,
    },
    BrowserWindow: FakeWindow as unknown as ElectronMain['BrowserWindow'],
    ipcMain: ipc.ipcMain,
    Menu: { buildFromTemplate: (t) => t, setApplicationMenu: (m) => void f.menus.push(m as MenuItemOptions[]) },
    dialog: {
      showOpenDialog: async () => {
        const filePaths = f.openDialogAnswers.shift() ?? [];
        return { canceled: filePaths.length === 0, filePaths };
      },
      showErrorBox: (title, content) => void f.errorBoxes.push({ title, content }),
    },
    session: {
      defaultSession: {
        webRequest: { onHeadersReceived: (cb) => void (f.headerHandler = cb) },
        setPermissionRequestHandler: (h) => void (f.permissionHandler = h),
      },
    },
  };
  return f;
}

/** The menu item at a path of labels in the latest application menu. */
function menuItem(f: FakeElectron, ...labels: string[]): MenuItemOptions {
  let items = f.menus.at(-1)!;
  let item: MenuItemOptions | undefined;
  for (const l of labels) {
    item = items.find((i) => i.label === l);
    if (!item) throw new Error(`no menu item '${l}' in ${JSON.stringify(items.map((i) => i.label ?? i.role ?? i.type))}`);
    items = item.submenu ?? [];
  }
  return item!;
}

const paths = bundlePaths(join(ROOT, 'dist', 'electron'));

describe('the Electron main process, on a real store, without the Electron binary', () => {
  let dir: string;
  let dbPath: string;
  let f: FakeElectron;
  let desktop: Desktop;
  let rendererPort: Port;
  let api: ApiClient;
  const win = () => f.windows[0];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'partita-electron-'));
    dbPath = join(dir, 'data', 'partita.db');
    f = fakeElectron(join(dir, 'userData'));
    desktop = await startDesktop(f.electron, { dbPath, ...paths });
    // The page's side: what the preload's bridge wraps (ipcRendererPort), with the renderer's client on top.
    rendererPort = ipcRendererPort(f.ipc.ipcRenderer);
    api = connectApi(rendererPort);
  });
  afterAll(async () => {
    api?.close();
    await desktop?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens one window on the bundled renderer with the preload, sandboxed and context-isolated', () => {
    expect(f.windows).toHaveLength(1);
    const wp = win().options.webPreferences;
    expect(wp).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true });
    expect(wp.preload).toBe(join(ROOT, 'dist', 'electron', 'preload.cjs'));
    // The paths the built main uses name files the build produced.
    expect(existsSync(wp.preload), 'npm run build makes dist/electron/preload.cjs').toBe(true);
    expect(win().loaded).toEqual([join(ROOT, 'dist', 'renderer', 'index.html')]);
    expect(existsSync(win().loaded[0])).toBe(true);
  });

  it('every response gets the strict CSP and nosniff, replacing what the response said', () => {
    expect(f.headerHandler).toBeTypeOf('function');
    const done = vi.fn();
    f.headerHandler!({ responseHeaders: { 'content-type': ['text/html'], 'Content-Security-Policy': ["default-src *"] } }, done);
    const headers = done.mock.calls[0][0].responseHeaders as Record<string, string[]>;
    expect(headers['Content-Security-Policy']).toEqual([ELECTRON_CSP]);
    expect(headers['X-Content-Type-Options']).toEqual(['nosniff']);
    expect(headers['content-type']).toEqual(['text/html']);
    expect(ELECTRON_CSP).toContain("default-src 'none'");
    expect(ELECTRON_CSP).toContain("script-src 'self'");
    expect(ELECTRON_CSP).toContain("connect-src 'none'");
    // A response without headers gets them too.
    const done2 = vi.fn();
    f.headerHandler!({}, done2);
    expect(done2.mock.calls[0][0].responseHeaders).toEqual({ 'Content-Security-Policy': [ELECTRON_CSP], 'X-Content-Type-Options': ['nosniff'] });
  });

  it('no navigation away from the app, no redirects, no new windows, no permissions, no webviews', () => {
    const h = win().contentsHandlers;
    const appUrl = pathToFileURL(win().loaded[0]).href;
    const nav = (url: string) => {
      const e = event();
      for (const cb of h.get('will-navigate') ?? []) cb(e, url);
      return e.defaultPrevented;
    };
    expect(h.get('will-navigate')).toHaveLength(1);
    expect(nav('https://example.com/')).toBe(true);
    expect(nav(pathToFileURL(join(ROOT, 'README.md')).href)).toBe(true);
    expect(nav(appUrl)).toBe(false);

    const redirect = event();
    for (const cb of h.get('will-redirect') ?? []) cb(redirect, appUrl);
    expect(h.get('will-redirect')).toHaveLength(1);
    expect(redirect.defaultPrevented).toBe(true);

    expect(win().openHandler?.({ url: 'https://example.com/' })).toEqual({ action: 'deny' });
    expect(win().openHandler?.({ url: appUrl })).toEqual({ action: 'deny' });

    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read']) {
      const answer = vi.fn();
      f.permissionHandler!({}, permission, answer);
      expect(answer.mock.calls, permission).toEqual([[false]]);
    }

    // Any web contents created later (a frame, a devtools window) may not attach a webview.
    const created = f.appHandlers.get('web-contents-created') ?? [];
    expect(created).toHaveLength(1);
    const contentsHandlers = new Map<string, Handler[]>();
    created[0]({}, { on: (ev: string, cb: Handler) => contentsHandlers.set(ev, [...(contentsHandlers.get(ev) ?? []), cb]) });
    const attach = event();
    for (const cb of contentsHandlers.get('will-attach-webview') ?? []) cb(attach, {}, {});
    expect(contentsHandlers.get('will-attach-webview')).toHaveLength(1);
    expect(attach.defaultPrevented).toBe(true);

    expect(f.appHandlers.get('window-all-closed')).toHaveLength(1);
  });

  it('serves the API over IPC: the page calls the real handlers on the seeded store', async () => {
    const { models } = await api['models.list']();
    expect(models.map((m) => m.name).sort()).toEqual(ZOO.map((z) => z.name).sort());
    const { devices } = await api['devices.list']();
    expect(devices.length).toBeGreaterThan(0);
    expect(devices.map((d) => d.name)).toContain('raspberry-pi-4b');
    const { model } = await api['models.get']({ model: 'fmnist-cnn' });
    expect(model.layerCount).toBeGreaterThan(0);
  });

  it('checks what the page sends: a bad argument or a malformed message is refused with a clear error', async () => {
    await expect(api.call('models.get', { model: { nope: true }, extra: 1 })).rejects.toMatchObject({
      code: 'rpc-invalid-argument',
      message: expect.stringMatching(/^Invalid argument for 'models\.get': .+\. Fix the argument; the schema is in core\/api\/contract\.ts\.$/),
    });
    await expect(api.call('fs.readFile', { path: '/etc/passwd' })).rejects.toMatchObject({ code: 'rpc-unknown-method', message: expect.stringContaining("Unknown method 'fs.readFile'") });
    // A raw message that is no request at all, as a compromised page could send through the bridge.
    const raw = ipcRendererPort(f.ipc.ipcRenderer);
    const answers: unknown[] = [];
    raw.onMessage((m) => answers.push(m));
    raw.send({ id: 99_001, method: 42 });
    await vi.waitFor(() => expect(answers).toHaveLength(1));
    expect(answers[0]).toMatchObject({ id: 99_001, error: { code: expect.stringMatching(/^rpc-/), message: expect.stringContaining('a request needs an integer id >= 0, a method name and an argument') } });
    raw.close?.();
    // A second window on the same ipcMain is not served by this connection.
    const otherAnswers: unknown[] = [];
    const other = ipcRendererPort(f.ipc.otherRenderer);
    other.onMessage((m) => otherAnswers.push(m));
    other.send({ id: 1, method: 'models.list', arg: {} });
    await new Promise((r) => setTimeout(r, 50));
    expect(otherAnswers).toEqual([]);
  });

  describe('the File menu', () => {
    const openModel = () => menuItem(f, 'File', 'Open Model…').click!();
    const recentLabels = () => (menuItem(f, 'File', 'Open Recent').submenu ?? []).map((i) => i.label ?? i.type);

    it('starts with no recent models', () => {
      expect(menuItem(f, 'File', 'Open Model…').accelerator).toBe('CmdOrCtrl+O');
      expect(recentLabels()).toEqual(['No recent models']);
      expect(menuItem(f, 'File', 'Open Recent', 'No recent models').enabled).toBe(false);
    });

    it('a file that is not ONNX: an error box says so, nothing is stored, the recent list is unchanged', async () => {
      const before = (await api['models.list']()).models;
      const notOnnx = join(dir, 'notes.onnx');
      writeFileSync(notOnnx, 'These are my notes, not a model.\n');
      const menusBefore = f.menus.length;
      f.openDialogAnswers.push([notOnnx]);
      openModel();
      await vi.waitFor(() => expect(f.errorBoxes).toHaveLength(1));
      expect(f.errorBoxes[0].title).toBe('Could not import the model');
      expect(f.errorBoxes[0].content).toMatch(/^Model 'notes\.onnx' is not an ONNX file \(it looks like a text file\)\. Export it with /);
      expect((await api['models.list']()).models).toEqual(before);
      expect(f.menus).toHaveLength(menusBefore);
      expect(recentLabels()).toEqual(['No recent models']);
      expect(f.recentDocuments).toEqual([]);
    });

    it('a cancelled dialog does nothing', async () => {
      const menusBefore = f.menus.length;
      openModel();
      await new Promise((r) => setTimeout(r, 50));
      expect(f.errorBoxes).toHaveLength(1);
      expect(f.menus).toHaveLength(menusBefore);
    });

    it('a real model is imported, added to the recent files and listed under Open Recent', async () => {
      const before = (await api['models.list']()).models;
      const cls = PPOCR.find((m) => m.name === 'cls')!.file;
      f.openDialogAnswers.push([cls]);
      openModel();
      await vi.waitFor(() => expect(win().titles).toHaveLength(1), { timeout: 30_000 });
      expect(win().titles[0]).toBe('Partita — imported ch_ppocr_mobile_v2.0_cls_infer');
      const after = (await api['models.list']()).models;
      expect(after).toHaveLength(before.length + 1);
      expect(after.at(-1)).toMatchObject({ name: 'ch_ppocr_mobile_v2.0_cls_infer' });
      expect(f.recentDocuments).toEqual([cls]);
      expect(recentLabels()).toEqual([cls, 'separator', 'Clear Recent']);
      expect(JSON.parse(readFileSync(join(dir, 'userData', 'recent-models.json'), 'utf8'))).toEqual([cls]);

      // A bundled zoo model is already in the seeded store: reused, not stored twice, and first in Open Recent.
      const zoo = ZOO[0].file;
      f.openDialogAnswers.push([zoo]);
      openModel();
      await vi.waitFor(() => expect(win().titles).toHaveLength(2), { timeout: 30_000 });
      expect(win().titles[1]).toBe(`Partita — already imported ${ZOO[0].name}`);
      expect((await api['models.list']()).models).toHaveLength(after.length);
      expect(recentLabels()).toEqual([zoo, cls, 'separator', 'Clear Recent']);

      // Clicking a recent entry imports it again (reused); Clear Recent empties the list.
      menuItem(f, 'File', 'Open Recent', cls).click!();
      await vi.waitFor(() => expect(win().titles).toHaveLength(3), { timeout: 30_000 });
      expect(win().titles[2]).toBe('Partita — already imported ch_ppocr_mobile_v2.0_cls_infer');
      expect(recentLabels()).toEqual([cls, zoo, 'separator', 'Clear Recent']);
      menuItem(f, 'File', 'Open Recent', 'Clear Recent').click!();
      expect(recentLabels()).toEqual(['No recent models']);
      expect(f.recentDocuments).toEqual([]);
      expect(f.errorBoxes).toHaveLength(1);
    });
  });

  it('closing the window stops serving and closes the hub and the store', async () => {
    const hubPort = Number(new URL(desktop.hubUrl).port);
    expect(f.ipc.ipcMain.listenerCount(IPC_CHANNEL)).toBe(1);
    win().win.close();
    await desktop.close();
    expect(f.ipc.ipcMain.listenerCount(IPC_CHANNEL)).toBe(0);
    // The page's pending and later calls get no answer from a closed window: the client times out instead of hanging.
    const late = connectApi(ipcRendererPort(f.ipc.ipcRenderer), { timeoutMs: 200 });
    await expect(late['models.list']()).rejects.toMatchObject({ code: 'rpc-timeout' });
    late.close();
    // The hub no longer listens.
    const refused = await new Promise<string>((resolve) => {
      const s = connect(hubPort, '127.0.0.1');
      s.on('connect', () => (s.destroy(), resolve('connected')));
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    // The store's handle is closed: the file reopens (WAL checkpointed: no -wal left behind) and can be removed.
    expect(existsSync(`${dbPath}-wal`)).toBe(false);
    const again = SqliteStore.open(dbPath);
    expect(again.listModels().map((m) => m.name)).toContain('ch_ppocr_mobile_v2.0_cls_infer');
    again.close();
    rmSync(dbPath);
    expect(existsSync(dbPath)).toBe(false);
  });
});

describe('the built entry (dist/electron/main.js)', () => {
  it("loads 'electron' and starts the desktop app on PARTITA_DB with the bundled preload and renderer", () => {
    const dir = mkdtempSync(join(tmpdir(), 'partita-electron-entry-'));
    try {
      // The same stand-in idea, in CommonJS: `node --require` makes require('electron') return it for the bundle's
      // createRequire. It prints what the entry asked for and exits once the page is loaded.
      const hook = join(dir, 'fakeElectron.cjs');
      writeFileSync(
        hook,
        `const Module = require('node:module');
const load = Module._load;
const on = () => {};
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const webContents = { send: on, isDestroyed: () => false, once: on, removeListener: on, on, setWindowOpenHandler: on, getURL: () => '' };
const electron = {
  app: { whenReady: async () => {}, on, quit: () => say({ quit: true }), getPath: () => ${JSON.stringify(join(dir, 'userData'))}, addRecentDocument: on, clearRecentDocuments: on, isPackaged: false },
  BrowserWindow: class { constructor(o) { say({ window: o }); this.webContents = webContents; } async loadFile(p) { say({ loadFile: p }); setTimeout(() => process.exit(0), 50); } setTitle() {} on() {} },
  ipcMain: { on, removeListener: on },
  Menu: { buildFromTemplate: (t) => t, setApplicationMenu: (m) => say({ menu: m.map((i) => i.label) }) },
  dialog: {},
  session: { defaultSession: { webRequest: { onHeadersReceived: on }, setPermissionRequestHandler: on } },
};
Module._load = function (request, ...rest) { return request === 'electron' ? electron : load.call(this, request, ...rest); };
`,
      );
      const db = join(dir, 'db', 'partita.db');
      const r = spawnSync(process.execPath, ['--require', hook, join(ROOT, 'dist/electron/main.js')], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PARTITA_DB: db } });
      expect(r.status, r.stderr).toBe(0);
      const said = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(said).toEqual([
        { window: expect.objectContaining({ webPreferences: expect.objectContaining({ preload: paths.preload, sandbox: true, contextIsolation: true }) }) },
        { menu: ['File', 'Edit', 'View'] },
        { loadFile: join(paths.rendererDir, 'index.html') },
      ]);
      expect(existsSync(db)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the preload (the built dist/electron/preload.cjs)', () => {
  it("exposes exactly one key, 'partitaBridge', with exactly send and onMessage, and requires only 'electron'", async () => {
    const code = readFileSync(paths.preload, 'utf8');
    const ipc = fakeIpc();
    const exposed = new Map<string, unknown>();
    const required: string[] = [];
    const electron: ElectronPreload = { contextBridge: { exposeInMainWorld: (key, value) => void exposed.set(key, value) }, ipcRenderer: ipc.ipcRenderer };
    // A sandboxed preload sees no Node: a fresh context whose require knows 'electron' only, as in Electron.
    const module = { exports: {} };
    runInNewContext(code, {
      module,
      exports: module.exports,
      require: (id: string) => {
        required.push(id);
        if (id === 'electron') return electron;
        throw new Error(`a sandboxed preload cannot require '${id}'`);
      },
    });
    expect(required).toEqual(['electron']);
    expect([...exposed.keys()]).toEqual(['partitaBridge']);
    const bridge = exposed.get('partitaBridge') as { send(m: unknown): void; onMessage(cb: (m: unknown) => void): () => void };
    expect(Object.keys(bridge).sort()).toEqual(['onMessage', 'send']);
    expect(typeof bridge.send).toBe('function');
    expect(typeof bridge.onMessage).toBe('function');

    // It is a working Port on the RPC channel: what the page sends reaches the main side, and back.
    const atMain: unknown[] = [];
    ipc.ipcMain.on(IPC_CHANNEL, (_e, m) => void atMain.push(m));
    bridge.send({ id: 1, method: 'models.list', arg: {} });
    await vi.waitFor(() => expect(atMain).toEqual([{ id: 1, method: 'models.list', arg: {} }]));
    const atPage: unknown[] = [];
    const off = bridge.onMessage((m) => atPage.push(m));
    ipc.webContents.send(IPC_CHANNEL, { id: 1, result: { models: [] } });
    await vi.waitFor(() => expect(atPage).toEqual([{ id: 1, result: { models: [] } }]));
    off();
    ipc.webContents.send(IPC_CHANNEL, { id: 2, result: {} });
    await new Promise((r) => setTimeout(r, 20));
    expect(atPage).toHaveLength(1);
  });
});
