/**
 * Connects the page to the core: through the Electron preload's bridge when there is one, else over the
 * WebSocket of browser mode with the per-launch token from the URL fragment (`#token=…`).
 */
import { browserWsPort } from '../core/rpc/browserWsPort.js';
import { connectApi, type ApiClient } from '../core/rpc/client.js';
import type { Port } from '../core/rpc/port.js';

export interface Bridge {
  send(msg: unknown): void;
  onMessage(cb: (msg: unknown) => void): () => void;
}

declare global {
  interface Window {
    /** Set by electron/preload.ts (contextBridge): the only thing the page gets from Electron. */
    partitaBridge?: Bridge;
  }
}

export class ConnectError extends Error {
  constructor(
    readonly code: 'token-missing' | 'refused' | 'closed',
    message: string,
  ) {
    super(message);
  }
}

export function tokenFromHash(hash: string): string | null {
  const m = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(hash);
  return m ? m[1] : null;
}

/** Resolves once the transport is open, with a client; rejects with a ConnectError that says what to do. */
export function connect(onClose: () => void): Promise<ApiClient> {
  if (window.partitaBridge) {
    const bridge = window.partitaBridge;
    const port: Port = { send: (m) => bridge.send(m), onMessage: (cb) => bridge.onMessage(cb) };
    return Promise.resolve(connectApi(port));
  }
  const token = tokenFromHash(location.hash);
  if (!token) {
    return Promise.reject(new ConnectError('token-missing', 'This page was opened without its access token. Open the full address that `partita start` (or `partita serve`) printed, including the part after “#token=”.'));
  }
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api`, ['partita', `partita-token.${token}`]);
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
      const client = connectApi(browserWsPort(ws));
      resolve(client);
    });
    ws.addEventListener('close', () => {
      if (!opened) reject(new ConnectError('refused', 'The Partita core refused the connection: the access token is wrong or expired (each launch makes a new one), or the core has stopped. Open the address the latest `partita start` printed.'));
      else onClose();
    });
  });
}
