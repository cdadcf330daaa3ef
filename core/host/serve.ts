import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CoreError } from '../api/errors.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { startApiServer, type ApiServer } from './apiServer.js';
import { createHandlers } from './handlers.js';
import { workbenchCsp } from './csp.js';
import { packageRoot } from './packageRoot.js';
import { startAgentHub, type AgentHub } from './agentHub.js';
import { removeRuntimeFile, writeRuntimeFile } from './workbenchRuntime.js';

/** The renderer bundle `npm run build` writes. */
export function rendererDir(): string {
  return join(packageRoot(), 'dist', 'renderer');
}

/**
 * Browser mode: the renderer and the API (WebSocket, per-launch token, own origin only) on 127.0.0.1.
 * Monaco and Observable Plot insert <style> elements, so styles may be inline; scripts stay 'self' only.
 */
export async function serveWorkbench(
  store: SqliteStore,
  o: { port?: number; token?: string; agentHost?: string; agentPort?: number; heartbeatMs?: number } = {},
): Promise<ApiServer & { hub: AgentHub; stop(): Promise<void> }> {
  const staticDir = rendererDir();
  if (!existsSync(join(staticDir, 'index.html'))) {
    throw new CoreError('renderer-missing', `The workbench UI is not built ('${staticDir}' has no index.html). Run \`npm run build\` first.`);
  }
  // Device agents attach to the workbench's hub; the UI and the CLI (`partita run --agent`) reach them through it.
  const hub = await startAgentHub({ store, host: o.agentHost, port: o.agentPort, heartbeatMs: o.heartbeatMs });
  const { handlers, close } = createHandlers(store, { hub });
  let server: ApiServer;
  try {
    server = await startApiServer({
      handlers,
      staticDir,
      port: o.port,
      token: o.token,
      csp: (origin, ws) => workbenchCsp([origin, ...ws]),
    });
  } catch (e) {
    await hub.close();
    close();
    throw e;
  }
  const runtime = writeRuntimeFile(store.path, { pid: process.pid, apiUrl: server.wsUrl, origin: server.origin, token: server.token, agentUrl: hub.url });
  return {
    ...server,
    hub,
    stop: async () => {
      removeRuntimeFile(runtime);
      await server.close();
      await hub.close();
      close();
    },
  };
}

/** Opens the system browser when there is one (xdg-open / open / start); silently does nothing otherwise. */
export function openBrowser(url: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'cmd' : 'xdg-open';
  const args = process.platform === 'win32' ? ['/c', 'start', '', url] : [url];
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {
    // No browser launcher: the URL printed on the terminal is the way in.
  }
}
