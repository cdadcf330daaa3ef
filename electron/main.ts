/**
 * The Electron entry: loads Electron and starts the desktop app (desktop.ts) on the user's database.
 *
 * Built by scripts/build.js to dist/electron/main.js; `npm start` (scripts/start.js) runs it when Electron is
 * installed. Electron is loaded at run time (createRequire) so the code type-checks without the package.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultDbPath } from '../core/host/dataDir.js';
import { bundlePaths, startDesktop } from './desktop.js';
import type { ElectronMain } from './electronTypes.js';

const electron = createRequire(import.meta.url)('electron') as ElectronMain;
const env = process.env;

startDesktop(electron, {
  dbPath: env.PARTITA_DB ?? defaultDbPath(),
  ...bundlePaths(dirname(fileURLToPath(import.meta.url))),
  agentHost: env.PARTITA_AGENT_HOST,
  agentPort: env.PARTITA_AGENT_PORT ? Number(env.PARTITA_AGENT_PORT) : undefined,
}).catch((e) => {
  console.error('partita:', e);
  electron.app.quit();
});
