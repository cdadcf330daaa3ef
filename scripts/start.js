// `npm start`: the desktop app when Electron is installed (it is an optional dependency whose binary cannot always
// be downloaded), else browser mode (`partita start`: a local server plus the system browser).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

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

const electron = electronBinary();
const mainJs = `${root}dist/electron/main.js`;
const [cmd, cmdArgs] =
  electron && existsSync(mainJs) ? [electron, [mainJs, ...args]] : [process.execPath, [`${root}bin/partita.js`, 'start', ...args]];
if (!electron) process.stderr.write('Electron is not installed: starting in browser mode.\n');
const child = spawn(cmd, cmdArgs, { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
});
