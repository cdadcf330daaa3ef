/**
 * A Port over a WHATWG WebSocket (the browser's, in browser mode): one JSON message per text frame, the same
 * framing as core/host/wsPort.ts on the server. Typed structurally, so it also runs over the `ws` client in tests.
 *
 * In the page: `browserWsPort(new WebSocket(`ws://${location.host}/api`, ['partita', `partita-token.${token}`]))`
 * with the token read from `location.hash` (`#token=…`). Messages sent before the socket opens are queued.
 */
import { RPC_ERROR_CODES } from '../api/contract.js';
import type { Port } from './port.js';
import { messageText } from './wire.js';

export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'close' | 'error', cb: () => void): void;
  addEventListener(type: 'message', cb: (e: { data: unknown }) => void): void;
}

const CONNECTING = 0;
const OPEN = 1;

export function browserWsPort(ws: WebSocketLike): Port {
  const messageListeners = new Set<(msg: unknown) => void>();
  const closeListeners = new Set<() => void>();
  const queue: string[] = [];
  let closed = false;

  let closeWhenOpen = false;
  ws.addEventListener('open', () => {
    if (closeWhenOpen) return ws.close(1000);
    for (const text of queue.splice(0)) ws.send(text);
  });
  // A failed connection also ends in 'close', which is where callers learn of it; the error event itself carries
  // nothing more (and an unheard one is an uncaught exception in Node's ws client).
  ws.addEventListener('error', () => {});
  ws.addEventListener('message', (e) => {
    if (closed) return;
    let msg: unknown;
    try {
      msg = JSON.parse(typeof e.data === 'string' ? e.data : String(e.data));
    } catch {
      // The core only sends JSON; anything else means the socket is not talking to a Partita core.
      msg = { id: null, error: { code: RPC_ERROR_CODES.badMessage, message: 'The server sent a message that is not JSON. Check the address of the Partita core.' } };
      ws.close(1007, 'malformed JSON');
    }
    for (const cb of [...messageListeners]) cb(msg);
  });
  ws.addEventListener('close', () => {
    if (closed) return;
    closed = true;
    for (const cb of [...closeListeners]) cb();
    closeListeners.clear();
  });

  return {
    send(msg) {
      if (closed) return;
      const text = messageText(msg);
      if (ws.readyState === CONNECTING) queue.push(text);
      else if (ws.readyState === OPEN) ws.send(text);
    },
    onMessage(cb) {
      messageListeners.add(cb);
      return () => messageListeners.delete(cb);
    },
    close() {
      // Closing a socket that is still connecting aborts the handshake, which some clients report as an error;
      // finishing the handshake first and closing right away is the same for the caller and quiet.
      if (ws.readyState === CONNECTING) closeWhenOpen = true;
      else ws.close(1000);
    },
    onClose(cb) {
      closeListeners.add(cb);
      return () => closeListeners.delete(cb);
    },
  };
}
