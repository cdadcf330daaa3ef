/**
 * The slice of Electron's API that electron/main.ts and electron/preload.ts use, typed here because the electron
 * package (an optional dependency whose binary cannot always be downloaded) may be absent when tsc runs. The
 * modules are loaded at run time with createRequire, so nothing imports 'electron' statically.
 */
import type { IpcMainLike, IpcRendererLike, WebContentsLike } from '../core/rpc/ipcPort.js';

export interface WebContents extends WebContentsLike {
  on(event: 'will-navigate' | 'will-redirect', cb: (e: { preventDefault(): void }, url: string) => void): unknown;
  setWindowOpenHandler(h: (d: { url: string }) => { action: 'deny' | 'allow' }): void;
  getURL(): string;
}

export interface BrowserWindow {
  webContents: WebContents;
  loadFile(path: string): Promise<void>;
  setTitle(title: string): void;
  on(event: 'closed', cb: () => void): unknown;
}

export interface MenuItemOptions {
  label?: string;
  role?: string;
  type?: 'separator' | 'submenu' | 'normal';
  accelerator?: string;
  submenu?: MenuItemOptions[];
  click?: () => void;
  enabled?: boolean;
}

export interface ElectronMain {
  app: {
    whenReady(): Promise<void>;
    on(event: string, cb: (...args: any[]) => void): unknown;
    quit(): void;
    getPath(name: 'userData' | 'documents'): string;
    addRecentDocument(path: string): void;
    clearRecentDocuments(): void;
    isPackaged: boolean;
  };
  BrowserWindow: {
    new (o: {
      width: number;
      height: number;
      title?: string;
      webPreferences: { preload: string; contextIsolation: boolean; sandbox: boolean; nodeIntegration: boolean; webSecurity: boolean; spellcheck?: boolean };
    }): BrowserWindow;
  };
  ipcMain: IpcMainLike;
  Menu: { buildFromTemplate(t: MenuItemOptions[]): unknown; setApplicationMenu(m: unknown): void };
  dialog: {
    showOpenDialog(w: BrowserWindow, o: { title: string; properties: string[]; filters: { name: string; extensions: string[] }[] }): Promise<{ canceled: boolean; filePaths: string[] }>;
    showErrorBox(title: string, content: string): void;
  };
  session: {
    defaultSession: {
      webRequest: { onHeadersReceived(cb: (d: { responseHeaders?: Record<string, string[]> }, done: (r: { responseHeaders: Record<string, string[]> }) => void) => void): void };
      setPermissionRequestHandler(h: (wc: unknown, permission: string, cb: (ok: boolean) => void) => void): void;
    };
  };
}

export interface ElectronPreload {
  contextBridge: { exposeInMainWorld(key: string, api: unknown): void };
  ipcRenderer: IpcRendererLike;
}
