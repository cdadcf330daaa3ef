import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startApiServer, type ApiServer } from '../../core/host/apiServer.js';
import { connectWsPort } from '../../core/host/wsPort.js';
import { connectApi } from '../../core/rpc/client.js';

const MODELS = { models: [] };

let root: string;
let server: ApiServer;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'partita-server-'));
  const web = join(root, 'web');
  mkdirSync(join(web, 'assets'), { recursive: true });
  writeFileSync(join(web, 'index.html'), '<!doctype html><title>Partita</title>');
  writeFileSync(join(web, 'assets', 'app.js'), 'console.log("partita");');
  writeFileSync(join(web, '.env'), 'SECRET=1');
  writeFileSync(join(root, 'secret.txt'), 'TOP-SECRET');
  symlinkSync(join(root, 'secret.txt'), join(web, 'link.txt'));
  server = await startApiServer({ handlers: { 'models.list': () => MODELS }, staticDir: web, maxMessageBytes: 64 * 1024, serve: { onInternalError: () => {} } });
});
afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw GET: the path goes out exactly as written (no client-side normalisation of '..'). */
function get(path: string, o: { host?: string; method?: string } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method: o.method ?? 'GET', headers: { host: o.host ?? `127.0.0.1:${server.port}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a WebSocket and reports how the server answered: 'open' or the HTTP status of the refusal. */
function upgrade(path: string, o: { origin?: string | null; protocols?: string[]; host?: string } = {}): Promise<number | 'open'> {
  const headers: Record<string, string> = o.host ? { host: o.host } : {};
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}${path}`, o.protocols ?? [], {
    ...(o.origin === null ? {} : { origin: o.origin ?? server.origin }),
    headers,
  });
  return new Promise((resolve) => {
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('error', () => resolve(-1));
  });
}

describe('the API server', () => {
  it('makes a random token of 256 bits per launch and puts it in the page URL fragment only', async () => {
    expect(server.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/#token=${server.token}`);
    expect(server.wsUrl).toBe(`ws://127.0.0.1:${server.port}/api`);
    const other = await startApiServer({ handlers: {}, staticDir: join(root, 'web') });
    expect(other.token).not.toBe(server.token);
    expect(other.port).not.toBe(server.port);
    await other.close();
    await expect(startApiServer({ handlers: {}, staticDir: join(root, 'web'), token: 'short' })).rejects.toThrow(/at least 128 bits/);
  });

  it('listens on 127.0.0.1 only', async () => {
    const s = await startApiServer({ handlers: {}, staticDir: join(root, 'web') });
    await s.close();
    const probe = (host: string): Promise<'open' | 'refused'> =>
      new Promise((resolve) => {
        const sock = connect({ host, port: server.port });
        sock.once('connect', () => (sock.destroy(), resolve('open')));
        sock.once('error', () => resolve('refused'));
      });
    expect(await probe('127.0.0.1')).toBe('open');
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a && !a.internal)
      .map((a) => a!.address);
    for (const address of [...others, '::1']) expect(await probe(address), address).toBe('refused');
  });

  it('accepts the token as a subprotocol or as ?token=, and serves the API', async () => {
    const api = connectApi(await connectWsPort(server.wsUrl, { token: server.token }));
    expect(await api['models.list']()).toEqual(MODELS);
    api.close();
    expect(await upgrade(`/api?token=${server.token}`)).toBe('open');
    expect(await upgrade('/api', { protocols: ['partita', `partita-token.${server.token}`] })).toBe('open');
  });

  it('refuses a connection without the token', async () => {
    expect(await upgrade('/api')).toBe(401);
    expect(await upgrade('/api', { protocols: ['partita'] })).toBe(401);
    await expect(connectWsPort(server.wsUrl)).rejects.toMatchObject({ code: 'rpc-closed', details: { status: 401 } });
  });

  it('refuses a wrong token, whatever its length', async () => {
    const flipped = (server.token[0] === 'A' ? 'B' : 'A') + server.token.slice(1);
    expect(await upgrade(`/api?token=${flipped}`)).toBe(401);
    expect(await upgrade(`/api?token=${server.token}x`)).toBe(401);
    expect(await upgrade(`/api?token=${server.token.slice(0, 20)}`)).toBe(401);
    expect(await upgrade('/api?token=')).toBe(401);
    expect(await upgrade('/api', { protocols: ['partita', `partita-token.${flipped}`] })).toBe(401);
  });

  it('refuses a foreign Origin with 403, even with the right token', async () => {
    expect(await upgrade(`/api?token=${server.token}`, { origin: 'http://evil.example' })).toBe(403);
    expect(await upgrade(`/api?token=${server.token}`, { origin: `http://127.0.0.1:${server.port + 1}` })).toBe(403);
    expect(await upgrade(`/api?token=${server.token}`, { origin: 'null' })).toBe(403);
    expect(await upgrade(`/api?token=${server.token}`, { origin: null })).toBe(403);
    expect(await upgrade(`/api?token=${server.token}`, { origin: `http://localhost:${server.port}`, host: `localhost:${server.port}` })).toBe('open');
  });

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    expect(await upgrade(`/api?token=${server.token}`, { host: `evil.example:${server.port}` })).toBe(403);
    expect((await get('/', { host: `evil.example:${server.port}` })).status).toBe(403);
  });

  it('upgrades /api only', async () => {
    expect(await upgrade(`/other?token=${server.token}`)).toBe(404);
    expect((await get('/api')).status).toBe(426);
  });

  it('serves the static files with a strict CSP', async () => {
    const index = await get('/');
    expect(index.status).toBe(200);
    expect(index.body).toContain('<title>Partita</title>');
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(index.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${server.port}`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
    expect(index.headers['x-content-type-options']).toBe('nosniff');
    expect(index.headers['referrer-policy']).toBe('no-referrer');
    const js = await get('/assets/app.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['content-security-policy']).toBe(csp);
    expect((await get('/missing.js')).status).toBe(404);
    expect((await get('/', { method: 'POST' })).status).toBe(405);
  });

  it('refuses path traversal, dotfiles and symlinks out of the folder', async () => {
    for (const path of ['/../secret.txt', '/assets/../../secret.txt', '/%2e%2e/secret.txt', '/assets/%2E%2E%2F%2E%2E%2Fsecret.txt', '/..%5csecret.txt', '/%2e%2e%5csecret.txt', '/link.txt', '/.env', '/%00']) {
      const r = await get(path);
      expect([400, 403, 404], path).toContain(r.status);
      expect(r.body, path).not.toContain('TOP-SECRET');
      expect(r.body, path).not.toContain('SECRET=1');
      expect(r.headers['content-security-policy'], path).toBeDefined();
    }
    expect((await get('/../secret.txt')).status).toBe(403);
  });

  it('answers malformed JSON with an error and closes the connection', async () => {
    const ws = new WebSocket(`${server.wsUrl}?token=${server.token}`, { origin: server.origin });
    await new Promise((r) => ws.once('open', r));
    const got: unknown[] = [];
    ws.on('message', (d) => got.push(JSON.parse(String(d))));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.send('{"id": 1, "method": ');
    expect(await closed).toBe(1007);
    expect(got).toEqual([{ id: null, error: { code: 'rpc-bad-message', message: expect.stringMatching(/^Malformed JSON message \(.+\)\. Send each message as one JSON text frame\.$/) } }]);
  });

  it('answers a message that is not a request, and closes on binary or oversized frames', async () => {
    const open = async () => {
      const ws = new WebSocket(`${server.wsUrl}?token=${server.token}`, { origin: server.origin });
      await new Promise((r) => ws.once('open', r));
      return ws;
    };
    const ws1 = await open();
    const answer = new Promise((r) => ws1.once('message', (d) => r(JSON.parse(String(d)))));
    ws1.send(JSON.stringify({ id: 7, methd: 'models.list' }));
    expect(await answer).toMatchObject({ id: 7, error: { code: 'rpc-bad-message' } });
    ws1.close();

    const ws2 = await open();
    const closed2 = new Promise<number>((r) => ws2.once('close', (code) => r(code)));
    ws2.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await closed2).toBe(1003);

    const ws3 = await open();
    const closed3 = new Promise<number>((r) => ws3.once('close', (code) => r(code)));
    ws3.send(JSON.stringify({ id: 1, method: 'models.import', arg: { path: 'x'.repeat(100 * 1024) } }));
    expect(await closed3).toBe(1009);
  });
});
