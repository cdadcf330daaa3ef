/**
 * The Electron main process: one window on the bundled renderer, the API served over IPC (ipcMainPort +
 * createHandlers over the user's SQLite store), and the security settings Electron's checklist asks for:
 * context isolation, the renderer sandboxed without Node, a strict CSP on every response, no navigation away from
 * the app, no new windows, no permission prompts.
 *
 * Built by scripts/build.js to dist/electron/main.js; `npm start` (scripts/start.js) runs it when Electron is
 * installed. Electron is loaded at run time (createRequire) so the code type-checks without the package.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectApi } from '../core/rpc/client.js';
import { ipcMainPort } from '../core/rpc/ipcPort.js';
import { memoryPorts } from '../core/rpc/port.js';
import { serveApi } from '../core/rpc/server.js';
import { defaultDbPath } from '../core/host/dataDir.js';
import { createHandlers } from '../core/host/handlers.js';
import { startAgentHub } from '../core/host/agentHub.js';
import { seedDefaults } from '../core/host/seed.js';
import { SqliteStore } from '../core/store/sqliteStore.js';
import type { BrowserWindow, ElectronMain, MenuItemOptions } from './electronTypes.js';
import { workbenchCsp } from '../core/host/csp.js';

const electron = createRequire(import.meta.url)('electron') as ElectronMain;
const { app, BrowserWindow: Window, ipcMain, Menu, dialog, session } = electron;

const here = dirname(fileURLToPath(import.meta.url));
const rendererDir = join(here, '..', 'renderer');

/** The page may load its own files and blob workers, and talk to nothing: the API is IPC, not the network. */
export const ELECTRON_CSP = workbenchCsp([]);

const MAX_RECENT = 10;

function recentFile(): string {
  return join(app.getPath('userData'), 'recent-models.json');
}

function loadRecent(): string[] {
  try {
    const list = JSON.parse(readFileSync(recentFile(), 'utf8')) as unknown;
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string').slice(0, MAX_RECENT) : [];
  } catch {
    return [];
  }
}

function saveRecent(list: string[]): void {
  mkdirSync(dirname(recentFile()), { recursive: true });
  writeFileSync(recentFile(), JSON.stringify(list.slice(0, MAX_RECENT)));
}

async function main(): Promise<void> {
  await app.whenReady();
  const dbPath = process.env.PARTITA_DB ?? defaultDbPath();
  mkdirSync(dirname(dbPath), { recursive: true });
  const store = SqliteStore.open(dbPath);
  await seedDefaults(store);
  // Device agents attach to this hub (the devices view shows them; its URL is in the pairing dialog).
  const hub = await startAgentHub({ store, host: process.env.PARTITA_AGENT_HOST, port: process.env.PARTITA_AGENT_PORT ? Number(process.env.PARTITA_AGENT_PORT) : undefined });
  const { handlers, jobs: _jobs, close } = createHandlers(store, { hub });

  // A client for the menus: the same API the page uses, in process.
  const [mine, theirs] = memoryPorts();
  serveApi(theirs, handlers, { validate: true });
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
      preload: join(here, 'preload.cjs'),
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

  win.on('closed', () => {
    conn.close();
    core.close();
    close();
    void hub.close().finally(() => store.close());
  });
  app.on('window-all-closed', () => app.quit());
  // Refuse webviews and any navigation from windows we did not create.
  app.on('web-contents-created', (_e: unknown, contents: { on(ev: string, cb: (e: { preventDefault(): void }) => void): void }) => {
    contents.on('will-attach-webview', (e) => e.preventDefault());
  });
  await win.loadFile(join(rendererDir, 'index.html'));
}

main().catch((e) => {
  console.error('partita:', e);
  app.quit();
});
