import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import WebSocket from 'ws';
import { CoreError } from '../api/errors.js';
import { browserWsPort } from '../rpc/browserWsPort.js';
import { connectApi, type ApiClient } from '../rpc/client.js';

/**
 * How the CLI finds a running workbench: `partita serve` writes `<db>.workbench.json` (owner-only, mode 0600)
 * with its API address, its per-launch token and its agent hub URL, and removes it when it stops. Commands that
 * need the live workbench (attached agents) connect with it, through the same API and checks as the UI. The token
 * in the file gives no more than the owner's own account already has (the database file beside it).
 */
const RuntimeSchema = z.object({
  pid: z.number().int().positive(),
  apiUrl: z.string().startsWith('ws://127.0.0.1:'),
  origin: z.string(),
  token: z.string().min(22).max(256),
  agentUrl: z.string(),
});
export type WorkbenchRuntime = z.infer<typeof RuntimeSchema>;

export function runtimeFilePath(dbPath: string): string {
  return `${dbPath}.workbench.json`;
}

export function writeRuntimeFile(dbPath: string, r: WorkbenchRuntime): string {
  const path = runtimeFilePath(dbPath);
  writeFileSync(path, JSON.stringify(r, null, 2) + '\n', { mode: 0o600 });
  return path;
}

export function removeRuntimeFile(path: string): void {
  rmSync(path, { force: true });
}

const notRunning = (dbPath: string, why: string) =>
  new CoreError('workbench-not-running', `No workbench is running on '${dbPath}' (${why}). Start one with \`partita serve --db ${dbPath}\`: device agents attach to it.`);

/** The running workbench's address, or a clear error when there is none (a stale file from a killed one is ignored). */
export function readRuntimeFile(dbPath: string): WorkbenchRuntime {
  let raw: string;
  try {
    raw = readFileSync(runtimeFilePath(dbPath), 'utf8');
  } catch {
    throw notRunning(dbPath, 'no runtime file');
  }
  let json: unknown = null;
  try {
    json = JSON.parse(raw);
  } catch {
    // A half-written or damaged file: treated like a missing one.
  }
  const parsed = RuntimeSchema.safeParse(json);
  if (!parsed.success) throw notRunning(dbPath, 'its runtime file is unreadable');
  try {
    process.kill(parsed.data.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') throw notRunning(dbPath, `process ${parsed.data.pid} is gone`);
  }
  return parsed.data;
}

/** An API client connected to the running workbench (resolves once the socket is open). */
export async function connectWorkbench(dbPath: string): Promise<ApiClient> {
  const r = readRuntimeFile(dbPath);
  const ws = new WebSocket(r.apiUrl, ['partita', `partita-token.${r.token}`], { origin: r.origin });
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok());
    ws.once('error', (e) => fail(notRunning(dbPath, `cannot connect to ${r.apiUrl}: ${e.message}`)));
  });
  return connectApi(browserWsPort(ws as unknown as Parameters<typeof browserWsPort>[0]));
}
