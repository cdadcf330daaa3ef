/**
 * The Electron main process: one window on the bundled renderer, the API served over IPC (ipcMainPort +
 * createHandlers over the user's SQLite store), and the security settings Electron's checklist asks for:
 * context isolation, the renderer sandboxed without Node, a strict CSP on every response, no navigation away from
 * the app, no new windows, no permission prompts.
 *
 * startDesktop takes the Electron module as an argument, so the whole main process runs without the Electron binary
 * (test/electron/main.test.ts drives it with a stand-in); electron/main.ts is the entry that passes the real one.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { connectApi } from '../core/rpc/client.js';
import { ipcMainPort } from '../core/rpc/ipcPort.js';
import { memoryPorts } from '../core/rpc/port.js';
import { serveApi } from '../core/rpc/server.js';
import { createHandlers } from '../core/host/handlers.js';
import { startAgentHub } from '../core/host/agentHub.js';
import { seedDefaults } from '../core/host/seed.js';
import { SqliteStore } from '../core/store/sqliteStore.js';
import type { BrowserWindow, ElectronMain, MenuItemOptions } from './electronTypes.js';
import { workbenchCsp } from '../core/host/csp.js';

/** The page may load its own files and blob workers, and talk to nothing: the API is IPC, not the network. */
export const ELECTRON_CSP = workbenchCsp([]);

const MAX_RECENT = 10;

export interface DesktopOptions {
  /** The SQLite database (created with its folder when missing, then seeded). */
  dbPath: string;
  /** The bundled renderer (dist/renderer: index.html and its files). */
  rendererDir: string;
  /** The bundled preload (dist/electron/preload.cjs). */
  preload: string;
  /** Where the recent-models list is kept (default: Electron's userData folder). */
  userData?: string;
  /** Where the device agents' hub listens (default 127.0.0.1, any free port). */
  agentHost?: string;
  agentPort?: number;
}

export interface Desktop {
  readonly window: BrowserWindow;
  /** The device agents' hub, ws://HOST:PORT/agent. */
  readonly hubUrl: string;
  /** Stops serving and closes the hub and the store; the same promise as when the window closes. */
  close(): Promise<void>;
}

/** Where the bundled preload and renderer are, seen from the folder of the bundled main (dist/electron). */
export function bundlePaths(mainDir: string): { preload: string; rendererDir: string } {
  return { preload: join(mainDir, 'preload.cjs'), rendererDir: join(mainDir, '..', 'renderer') };
}

export async function startDesktop(electron: ElectronMain, opts: DesktopOptions): Promise<Desktop> {
  const { app, BrowserWindow: Window, ipcMain, Menu, dialog, session } = electron;
  await app.whenReady();

  const recentFile = (): string => join(opts.userData ?? app.getPath('userData'), 'recent-models.json');
  const loadRecent = (): string[] => {
    try {
      const list = JSON.parse(readFileSync(recentFile(), 'utf8')) as unknown;
      return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string').slice(0, MAX_RECENT) : [];
    } catch {
      return [];
    }
  };
  const saveRecent = (list: string[]): void => {
    mkdirSync(dirname(recentFile()), { recursive: true });
    writeFileSync(recentFile(), JSON.stringify(list.slice(0, MAX_RECENT)));
  };

  mkdirSync(dirname(opts.dbPath), { recursive: true });
  const store = SqliteStore.open(opts.dbPath);
  let hub: Awaited<ReturnType<typeof startAgentHub>>;
  try {
    await seedDefaults(store);
    // Device agents attach to this hub (the devices view shows them; its URL is in the pairing dialog).
    hub = await startAgentHub({ store, host: opts.agentHost, port: opts.agentPort });
  } catch (e) {
    store.close();
    throw e;
  }
  const { handlers, close: closeHandlers } = createHandlers(store, { hub });

  // A client for the menus: the same API the page uses, in process.
  const [mine, theirs] = memoryPorts();
  const menuConn = serveApi(theirs, handlers, { validate: true });
  const core = connectApi(mine);

  session.defaultSession.webRequest.onHeadersReceived((details, done) => {
    done({ responseHeaders: { ...(details.responseHeaders ?? {}), 'Content-Security-Policy': [ELECTRON_CSP], 'X-Content-Type-Options': ['nosniff'] } });
  });
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, cb) => cb(false));

  const win: BrowserWindow = new Window({
    width: 1280,
    height: 900,
    title: 'Partita',
    webPreferences: {
      preload: opts.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  const appUrl = (): string => win.webContents.getURL();
  win.webContents.on('will-navigate', (e, url) => {
    if (url !== appUrl()) e.preventDefault();
  });
  win.webContents.on('will-redirect', (e) => e.preventDefault());
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));

  const conn = serveApi(ipcMainPort(ipcMain, win.webContents), handlers, { validate: true });

  const importModel = async (path: string): Promise<void> => {
    try {
      const r = await core['models.import']({ path });
      const recent = [path, ...loadRecent().filter((p) => p !== path)];
      saveRecent(recent);
      app.addRecentDocument(path);
      buildMenu();
      win.setTitle(`Partita — ${r.reused ? 'already imported' : 'imported'} ${r.model.name}`);
    } catch (e) {
      dialog.showErrorBox('Could not import the model', e instanceof Error ? e.message : String(e));
    }
  };

  const openModel = async (): Promise<void> => {
    const r = await dialog.showOpenDialog(win, { title: 'Open model', properties: ['openFile'], filters: [{ name: 'ONNX models', extensions: ['onnx'] }] });
    if (!r.canceled && r.filePaths[0]) await importModel(r.filePaths[0]);
  };

  const buildMenu = (): void => {
    const recent = loadRecent().filter((p) => existsSync(p));
    const template: MenuItemOptions[] = [
      {
        label: 'File',
        submenu: [
          { label: 'Open Model…', accelerator: 'CmdOrCtrl+O', click: () => void openModel() },
          {
            label: 'Open Recent',
            submenu: recent.length
              ? [
                  ...recent.map((p) => ({ label: p, click: () => void importModel(p) })),
                  { type: 'separator' as const },
                  { label: 'Clear Recent', click: () => (saveRecent([]), app.clearRecentDocuments(), buildMenu()) },
                ]
              : [{ label: 'No recent models', enabled: false }],
          },
          { type: 'separator' },
          { role: 'quit' },
        ],
      },
      { label: 'Edit', submenu: [{ role: 'undo' }, { role: 'redo' }, { type: 'separator' }, { role: 'cut' }, { role: 'copy' }, { role: 'paste' }, { role: 'selectAll' }] },
      { label: 'View', submenu: [{ role: 'reload' }, { role: 'toggleDevTools' }, { type: 'separator' }, { role: 'resetZoom' }, { role: 'zoomIn' }, { role: 'zoomOut' }] },
    ];
    Menu.setApplicationMenu(Menu.buildFromTemplate(template));
  };
  buildMenu();

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      conn.close();
      menuConn.close();
      core.close();
      closeHandlers();
      try {
        await hub.close();
      } finally {
        store.close();
      }
    })());
  win.on('closed', () => void close());
  app.on('window-all-closed', () => app.quit());
  // Refuse webviews and any navigation from windows we did not create.
  app.on('web-contents-created', (_e: unknown, contents: { on(ev: string, cb: (e: { preventDefault(): void }) => void): void }) => {
    contents.on('will-attach-webview', (e) => e.preventDefault());
  });
  await win.loadFile(join(opts.rendererDir, 'index.html'));
  return { window: win, hubUrl: hub.url, close };
}
