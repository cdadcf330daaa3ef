/**
 * A Port over a `ws` WebSocket: one JSON message per text frame. Used by the API server for each browser tab, and
 * by Node callers (agents, tests) through connectWsPort.
 *
 * A frame that is binary or not JSON is answered with `{ id: null, error: { code: 'rpc-bad-message', … } }` and
 * the connection is closed (1003 / 1007): a peer that sends garbage is broken or hostile, and nothing it sends
 * afterwards can be trusted to line up. Frames over the size limit are refused by ws itself (close code 1009).
 */
import WebSocket from 'ws';
import { RPC_ERROR_CODES } from '../api/contract.js';
import { CoreError } from '../api/errors.js';
import type { Port } from '../rpc/port.js';
import { DEFAULT_MAX_MESSAGE_BYTES, formatBytes, messageText } from '../rpc/wire.js';

export interface WsPortOptions {
  /** Largest frame sent, in bytes (default 16 MiB). Receiving is limited by the socket's maxPayload. */
  maxMessageBytes?: number;
}

/** Close codes (RFC 6455, 7.4.1). */
const UNSUPPORTED_DATA = 1003;
const INVALID_PAYLOAD = 1007;

export function wsPort(ws: WebSocket, options: WsPortOptions = {}): Port {
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const messageListeners = new Set<(msg: unknown) => void>();
  const closeListeners = new Set<() => void>();
  let closed = ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED;

  const refuse = (closeCode: number, reason: string, message: string): void => {
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ id: null, error: { code: RPC_ERROR_CODES.badMessage, message } }));
      ws.close(closeCode, reason);
    }
  };

  ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
    if (closed) return;
    if (isBinary) return refuse(UNSUPPORTED_DATA, 'binary frame', 'Binary frames are not accepted. Send each message as one JSON text frame.');
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      return refuse(INVALID_PAYLOAD, 'malformed JSON', `Malformed JSON message (${(e as Error).message}). Send each message as one JSON text frame.`);
    }
    for (const cb of [...messageListeners]) cb(msg);
  });
  ws.on('close', () => {
    closed = true;
    for (const cb of [...closeListeners]) cb();
    closeListeners.clear();
  });
  // An 'error' event without a listener would crash the process; the 'close' that follows does the cleanup.
  ws.on('error', () => {});

  return {
    send(msg) {
      if (closed || ws.readyState !== WebSocket.OPEN) return;
      const text = messageText(msg);
      const bytes = Buffer.byteLength(text, 'utf8');
      if (bytes > maxBytes) {
        throw new CoreError(RPC_ERROR_CODES.tooLarge, `A message of ${formatBytes(bytes)} is over the ${formatBytes(maxBytes)} limit of the WebSocket. Send less per call.`, { bytes, maxBytes });
      }
      ws.send(text);
    },
    onMessage(cb) {
      messageListeners.add(cb);
      return () => messageListeners.delete(cb);
    },
    close() {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
    },
    onClose(cb) {
      closeListeners.add(cb);
      return () => closeListeners.delete(cb);
    },
  };
}

/** Subprotocol every client offers; the server selects it. */
export const WS_PROTOCOL = 'partita';
/** Prefix of the subprotocol that carries the token (`partita-token.<token>`). */
export const WS_TOKEN_PROTOCOL_PREFIX = 'partita-token.';

export interface ConnectWsOptions extends WsPortOptions {
  /** The per-launch token; sent as a subprotocol (kept out of URLs and logs). */
  token?: string;
  /** Origin header to send (default: the server's own origin, derived from the URL). */
  origin?: string;
}

/**
 * Opens a WebSocket to a Partita API server from Node and resolves with its Port once open. Rejects with
 * CoreError('rpc-closed') when the server refuses the upgrade (the HTTP status is in the message and details).
 */
export function connectWsPort(url: string, options: ConnectWsOptions = {}): Promise<Port> {
  const u = new URL(url);
  const origin = options.origin ?? `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}`;
  const protocols = [WS_PROTOCOL, ...(options.token ? [WS_TOKEN_PROTOCOL_PREFIX + options.token] : [])];
  const ws = new WebSocket(url, protocols, { origin, maxPayload: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(wsPort(ws, options)));
    ws.once('unexpected-response', (_req, res) => {
      reject(new CoreError(RPC_ERROR_CODES.closed, `The Partita server refused the connection to '${u.origin}${u.pathname}' with HTTP ${res.statusCode}. Check the token and the address.`, { status: res.statusCode }));
      res.resume();
      ws.terminate();
    });
    ws.once('error', (e) => reject(new CoreError(RPC_ERROR_CODES.closed, `Cannot connect to '${u.origin}${u.pathname}' (${e.message}). Check that Partita is running.`)));
  });
}
