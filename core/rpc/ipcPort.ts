/**
 * Ports over Electron IPC, typed structurally so this folder never imports electron: electron/main.ts passes the
 * real ipcMain and the window's webContents, electron/preload.ts the real ipcRenderer. Electron copies every
 * message with the structured clone algorithm; serveApi/connectApi check that what they send is plain JSON.
 *
 * With context isolation the page never sees ipcRenderer: the preload exposes `{ send, onMessage }` of
 * `ipcRendererPort(...)` through contextBridge, and that object is itself a Port for connectApi.
 */
import type { Port } from './port.js';

export const IPC_CHANNEL = 'partita:rpc';

type Listener = (event: { sender: unknown }, msg: unknown) => void;

export interface IpcMainLike {
  on(channel: string, listener: Listener): unknown;
  removeListener(channel: string, listener: Listener): unknown;
}

export interface WebContentsLike {
  send(channel: string, msg: unknown): void;
  isDestroyed(): boolean;
  once(event: 'destroyed', cb: () => void): unknown;
  removeListener(event: 'destroyed', cb: () => void): unknown;
}

export interface IpcRendererLike {
  send(channel: string, msg: unknown): void;
  on(channel: string, listener: (event: unknown, msg: unknown) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, msg: unknown) => void): unknown;
}

/**
 * The main-process end for one window. Messages from any other webContents on the channel are ignored, so a
 * second window (or a stray frame) cannot talk through this connection.
 */
export function ipcMainPort(ipcMain: IpcMainLike, webContents: WebContentsLike, channel = IPC_CHANNEL): Port {
  const messageListeners = new Set<(msg: unknown) => void>();
  const closeListeners = new Set<() => void>();
  let closed = false;
  const onIpc: Listener = (event, msg) => {
    if (closed || event.sender !== webContents) return;
    for (const cb of [...messageListeners]) cb(msg);
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    ipcMain.removeListener(channel, onIpc);
    webContents.removeListener('destroyed', close);
    for (const cb of [...closeListeners]) cb();
    closeListeners.clear();
  };
  ipcMain.on(channel, onIpc);
  webContents.once('destroyed', close);
  return {
    send(msg) {
      if (!closed && !webContents.isDestroyed()) webContents.send(channel, msg);
    },
    onMessage(cb) {
      messageListeners.add(cb);
      return () => messageListeners.delete(cb);
    },
    close,
    onClose(cb) {
      closeListeners.add(cb);
      return () => closeListeners.delete(cb);
    },
  };
}

/** The renderer (preload) end. */
export function ipcRendererPort(ipcRenderer: IpcRendererLike, channel = IPC_CHANNEL): Port {
  const messageListeners = new Set<(msg: unknown) => void>();
  const closeListeners = new Set<() => void>();
  let closed = false;
  const onIpc = (_event: unknown, msg: unknown): void => {
    if (closed) return;
    for (const cb of [...messageListeners]) cb(msg);
  };
  ipcRenderer.on(channel, onIpc);
  return {
    send(msg) {
      if (!closed) ipcRenderer.send(channel, msg);
    },
    onMessage(cb) {
      messageListeners.add(cb);
      return () => messageListeners.delete(cb);
    },
    close() {
      if (closed) return;
      closed = true;
      ipcRenderer.removeListener(channel, onIpc);
      for (const cb of [...closeListeners]) cb();
      closeListeners.clear();
    },
    onClose(cb) {
      closeListeners.add(cb);
      return () => closeListeners.delete(cb);
    },
  };
}
