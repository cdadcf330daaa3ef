/**
 * The preload (sandboxed, context-isolated): exposes ONE narrow bridge to the page, `window.partitaBridge`
 * with `send(msg)` and `onMessage(cb)` on the RPC channel, and nothing else of Electron or Node. The page's
 * messages are still checked against the contract in the main process.
 */
import { ipcRendererPort } from '../core/rpc/ipcPort.js';
import type { ElectronPreload } from './electronTypes.js';

// A sandboxed preload is CommonJS and may require only 'electron' (scripts/build.js bundles the rest in).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { contextBridge, ipcRenderer } = require('electron') as ElectronPreload;
const port = ipcRendererPort(ipcRenderer);

contextBridge.exposeInMainWorld('partitaBridge', {
  send: (msg: unknown) => port.send(msg),
  onMessage: (cb: (msg: unknown) => void) => port.onMessage((m) => cb(m)),
});
