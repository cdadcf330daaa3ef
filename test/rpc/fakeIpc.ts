/**
 * A stand-in for Electron's ipcMain / ipcRenderer / webContents, close enough for the IPC ports: channels with
 * listeners called as (event, ...args), every argument copied with structuredClone (Electron uses the structured
 * clone algorithm too), delivery in a later task, event.sender = the webContents that sent it.
 */
import type { IpcMainLike, IpcRendererLike, WebContentsLike } from '../../core/rpc/ipcPort.js';

type Listener = (event: any, ...args: unknown[]) => void;

class Channels {
  private readonly map = new Map<string, Set<Listener>>();
  on(channel: string, l: Listener): void {
    let s = this.map.get(channel);
    if (!s) this.map.set(channel, (s = new Set()));
    s.add(l);
  }
  off(channel: string, l: Listener): void {
    this.map.get(channel)?.delete(l);
  }
  deliver(channel: string, event: unknown, args: unknown[]): void {
    const copies = args.map((a) => structuredClone(a));
    setTimeout(() => {
      for (const l of [...(this.map.get(channel) ?? [])]) l(event, ...copies);
    }, 0);
  }
  count(channel: string): number {
    return this.map.get(channel)?.size ?? 0;
  }
}

export interface FakeIpc {
  ipcMain: IpcMainLike & { listenerCount(channel: string): number };
  ipcRenderer: IpcRendererLike;
  webContents: WebContentsLike & { destroy(): void };
  /** A second window on the same ipcMain, to check that the main port ignores it. */
  otherRenderer: IpcRendererLike;
}

export function fakeIpc(): FakeIpc {
  const toMain = new Channels();
  const toRenderer = new Channels();
  const destroyedListeners = new Set<() => void>();
  let destroyed = false;

  const webContents: FakeIpc['webContents'] = {
    send(channel, msg) {
      if (destroyed) throw new Error('Object has been destroyed');
      toRenderer.deliver(channel, { sender: null }, [msg]);
    },
    isDestroyed: () => destroyed,
    once(_event, cb) {
      destroyedListeners.add(cb);
    },
    removeListener(_event, cb) {
      destroyedListeners.delete(cb);
    },
    destroy() {
      destroyed = true;
      for (const cb of [...destroyedListeners]) cb();
      destroyedListeners.clear();
    },
  };
  const otherWebContents = { id: 'other' };

  const ipcMain: FakeIpc['ipcMain'] = {
    on: (channel, l) => toMain.on(channel, l as Listener),
    removeListener: (channel, l) => toMain.off(channel, l as Listener),
    listenerCount: (channel) => toMain.count(channel),
  };
  const rendererFor = (sender: unknown, inbox: Channels | null): IpcRendererLike => ({
    send: (channel, msg) => toMain.deliver(channel, { sender }, [msg]),
    on: (channel, l) => inbox?.on(channel, l as Listener),
    removeListener: (channel, l) => inbox?.off(channel, l as Listener),
  });
  return { ipcMain, ipcRenderer: rendererFor(webContents, toRenderer), webContents, otherRenderer: rendererFor(otherWebContents, null) };
}
