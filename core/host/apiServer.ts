/**
 * Browser mode: an HTTP server on 127.0.0.1 that serves the renderer's static files and the API over a WebSocket
 * at /api.
 *
 * Anything on this machine can reach a loopback port, and any web page the user opens can try to, so:
 * - the upgrade to /api needs the per-launch token (256 random bits, compared in constant time), given as
 *   `?token=` or, preferably, as the subprotocol `partita-token.<token>` next to `partita`;
 * - the Origin must be this server's own (http://127.0.0.1:PORT or http://localhost:PORT): a foreign page gets 403
 *   even with the token; so must the Host header (defeats DNS rebinding);
 * - static files come only from inside staticDir (no `..`, no dotfiles, no symlinks out), with a strict CSP and
 *   no Referer leaving the page (the page URL carries the token in its fragment).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { extname, join, resolve, sep } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { serveApi, type ApiConnection, type ApiHandlers, type ServeOptions } from '../rpc/server.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../rpc/wire.js';
import { WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX, wsPort } from './wsPort.js';

export interface ApiServerOptions {
  handlers: Partial<ApiHandlers>;
  /** Folder of the renderer build (index.html and its assets). */
  staticDir: string;
  /** The per-launch token; default: 32 random bytes, base64url. A given token must have at least 128 bits (22+ base64url characters). */
  token?: string;
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Largest WebSocket message in either direction (default 16 MiB). */
  maxMessageBytes?: number;
  /** Options for each connection's serveApi (validation stays on). */
  serve?: Omit<ServeOptions, 'maxMessageBytes' | 'validate'>;
  /** Replaces the default Content-Security-Policy (e.g. if an editor needs inline styles). */
  csp?: (origin: string, wsOrigins: string[]) => string;
}

export interface ApiServer {
  /** The page to open: http://127.0.0.1:PORT/#token=… (the fragment never reaches a server or a Referer). */
  url: string;
  /** Where the API lives: ws://127.0.0.1:PORT/api (without the token). */
  wsUrl: string;
  origin: string;
  port: number;
  token: string;
  /** Closes every connection and the listening socket. */
  close(): Promise<void>;
}

const HOST = '127.0.0.1';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
};

export function defaultCsp(origin: string, wsOrigins: string[]): string {
  void origin;
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src 'self' ${wsOrigins.join(' ')}`,
    "worker-src 'self' blob:",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** A token of at least 128 bits in URL- and header-safe characters. */
function checkToken(token: string): string {
  if (!/^[A-Za-z0-9_-]{22,256}$/.test(token)) {
    throw new Error('API token must be 22 to 256 characters of [A-Za-z0-9_-] (at least 128 bits); omit it to get a random one');
  }
  return token;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const token = options.token !== undefined ? checkToken(options.token) : randomBytes(32).toString('base64url');
  // Comparing fixed-length digests keeps the comparison constant-time whatever the length of the guess.
  const tokenDigest = sha256(token);
  const tokenMatches = (given: string | null | undefined): boolean => typeof given === 'string' && given.length <= 1024 && timingSafeEqual(sha256(given), tokenDigest);
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const staticRoot = await realpath(resolve(options.staticDir));

  let port = 0;
  let origins: string[] = [];
  let hosts: string[] = [];
  let csp = '';

  const securityHeaders = (res: ServerResponse): void => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-store');
  };
  const plain = (res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void => {
    securityHeaders(res);
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...extra });
    res.end(`${text}\n`);
  };

  /** The file under staticRoot for a request path, or an HTTP status to answer. */
  const resolveStatic = async (rawPath: string): Promise<string | number> => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(rawPath);
    } catch {
      return 400;
    }
    if (decoded.includes('\0') || decoded.includes('\\')) return 400;
    const segments = decoded.split('/').filter((s) => s !== '');
    if (segments.some((s) => s === '..' || s === '.')) return 403;
    if (segments.some((s) => s.startsWith('.'))) return 404;
    let file = join(staticRoot, ...segments);
    if (file !== staticRoot && !file.startsWith(staticRoot + sep)) return 403;
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const real = await realpath(file);
      if (real !== staticRoot && !real.startsWith(staticRoot + sep)) return 403;
      if (!(await stat(real)).isFile()) return 404;
      return real;
    } catch {
      return 404;
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (!hosts.includes(req.headers.host ?? '')) return plain(res, 403, 'Forbidden: unexpected Host header.');
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'Method not allowed.', { Allow: 'GET, HEAD' });
    const rawPath = (req.url ?? '/').split('?')[0].split('#')[0];
    if (!rawPath.startsWith('/')) return plain(res, 400, 'Bad request.');
    if (rawPath === '/api') return plain(res, 426, 'Upgrade required: /api speaks WebSocket.', { Upgrade: 'websocket' });
    resolveStatic(rawPath).then(
      (found) => {
        if (typeof found === 'number') {
          const text: Record<number, string> = { 400: 'Bad request.', 403: 'Forbidden: the path leaves the app folder.', 404: 'Not found.' };
          return plain(res, found, text[found] ?? 'Error.');
        }
        securityHeaders(res);
        res.writeHead(200, { 'Content-Type': CONTENT_TYPES[extname(found).toLowerCase()] ?? 'application/octet-stream' });
        if (req.method === 'HEAD') return void res.end();
        createReadStream(found)
          .on('error', () => res.destroy())
          .pipe(res);
      },
      () => plain(res, 500, 'Internal error.'),
    );
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxBytes,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
  });
  const connections = new Set<ApiConnection>();

  const refuseUpgrade = (socket: Duplex, status: number, reason: string, text: string): void => {
    const body = `${text}\n`;
    socket.once('finish', () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://${HOST}`);
    } catch {
      return refuseUpgrade(socket, 400, 'Bad Request', 'Bad request.');
    }
    if (url.pathname !== '/api') return refuseUpgrade(socket, 404, 'Not Found', 'Not found.');
    if (!hosts.includes(req.headers.host ?? '')) return refuseUpgrade(socket, 403, 'Forbidden', 'Forbidden: unexpected Host header.');
    if (!origins.includes(req.headers.origin ?? '')) return refuseUpgrade(socket, 403, 'Forbidden', 'Forbidden: the API accepts connections from its own pages only.');
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    const fromProtocol = offered.find((p) => p.startsWith(WS_TOKEN_PROTOCOL_PREFIX))?.slice(WS_TOKEN_PROTOCOL_PREFIX.length);
    if (!tokenMatches(fromProtocol ?? url.searchParams.get('token'))) return refuseUpgrade(socket, 401, 'Unauthorized', 'Unauthorized: missing or wrong token.');
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const conn = serveApi(wsPort(ws, { maxMessageBytes: maxBytes }), options.handlers, { ...options.serve, validate: true, maxMessageBytes: maxBytes });
      connections.add(conn);
      conn.onClose(() => connections.delete(conn));
    });
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen({ host: HOST, port: options.port ?? 0, exclusive: true }, () => {
      server.off('error', fail);
      ok();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('API server has no TCP address');
  port = address.port;
  const origin = `http://${HOST}:${port}`;
  origins = [origin, `http://localhost:${port}`];
  hosts = [`${HOST}:${port}`, `localhost:${port}`];
  csp = (options.csp ?? defaultCsp)(origin, [`ws://${HOST}:${port}`, `ws://localhost:${port}`]);

  return {
    url: `${origin}/#token=${token}`,
    wsUrl: `ws://${HOST}:${port}/api`,
    origin,
    port,
    token,
    close: async () => {
      for (const c of [...connections]) c.close();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((ok) => wss.close(() => ok()));
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
