// `npm start`: the desktop app when Electron is installed (it is an optional dependency whose binary cannot always
// be downloaded), else browser mode (`partita start`: a local server plus the system browser).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { electronSqliteBinding } from './electronNative.js';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);

/** The Electron binary's path (what `require('electron')` returns in Node), or null. */
function electronBinary() {
  try {
    require.resolve('electron');
    const bin = require('electron');
    return typeof bin === 'string' && existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

/** better-sqlite3 built for this Electron (scripts/electronNative.js), or null (then browser mode) when it cannot be built. */
function electronSqlite() {
  try {
    return electronSqliteBinding(root, require('electron/package.json').version);
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    return null;
  }
}

let electron = electronBinary();
const mainJs = `${root}dist/electron/main.js`;
const binding = electron && existsSync(mainJs) ? electronSqlite() : null;
if (!binding) electron = null;
const [cmd, cmdArgs] = electron ? [electron, [mainJs, ...args]] : [process.execPath, [`${root}bin/partita.js`, 'start', ...args]];
if (!electron) process.stderr.write('Electron is not available: starting in browser mode.\n');
const child = spawn(cmd, cmdArgs, { stdio: 'inherit', env: binding ? { ...process.env, PARTITA_SQLITE_BINDING: binding } : process.env });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
});
