// better-sqlite3 for Electron's ABI, built once per Electron version and CPU architecture.
//
// Electron embeds its own Node with its own module ABI: the addon in node_modules/better-sqlite3 is built for the
// Node that runs the CLI and the tests, and Electron refuses to load it. Rebuilding it in place would break the CLI
// in turn, so the desktop app gets a copy of the package in .electron-native/<electron version>-<arch>/, compiled
// there with node-gyp (bundled with npm) against Electron's headers, and loaded through better-sqlite3's
// `nativeBinding` option (PARTITA_SQLITE_BINDING, read by core/store/sqliteStore.ts).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';

const require = createRequire(import.meta.url);

/** npm's own node-gyp (npm ships it to build addons from source), or null when this npm has none. */
function nodeGyp() {
  const npmCli = process.env.npm_execpath;
  const candidates = [
    npmCli && join(dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ].filter(Boolean);
  return candidates.find((p) => existsSync(p)) ?? null;
}

/**
 * The path of better_sqlite3.node built for `electronVersion`, building it first when missing. `root` is the
 * package folder. Throws with what to do when it cannot be built (no compiler, no network for the headers).
 */
export function electronSqliteBinding(root, electronVersion, arch = process.arch) {
  const dir = join(root, '.electron-native', `${electronVersion}-${arch}`);
  const binding = join(dir, 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  if (existsSync(binding)) return binding;

  const source = dirname(require.resolve('better-sqlite3/package.json', { paths: [root] }));
  const gyp = nodeGyp();
  if (!gyp) throw new Error("npm's node-gyp was not found, so better-sqlite3 cannot be built for Electron. Install node-gyp (`npm i -g node-gyp`) and run `npm start` again.");
  // Built in a scratch folder and renamed into place: an interrupted build is never taken for a finished one.
  const scratch = `${dir}.building-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  // The copy leaves out the addon built for Node (build/), which node-gyp would otherwise reuse.
  const nodeBuild = join(source, 'build');
  cpSync(source, join(scratch, 'better-sqlite3'), { recursive: true, filter: (p) => p !== nodeBuild && !p.startsWith(`${nodeBuild}${sep}`) });
  process.stderr.write(`Building better-sqlite3 for Electron ${electronVersion} (${arch}), once; this takes a minute or two…\n`);
  try {
    execFileSync(process.execPath, [gyp, 'rebuild', '--release', `--target=${electronVersion}`, `--arch=${arch}`, '--dist-url=https://electronjs.org/headers'], {
      cwd: join(scratch, 'better-sqlite3'),
      stdio: 'inherit',
      // npm's `nodedir` setting points node-gyp at this Node's headers; Electron's come from --dist-url.
      env: { ...process.env, npm_config_nodedir: '' },
    });
  } catch (e) {
    rmSync(scratch, { recursive: true, force: true });
    throw new Error(`Building better-sqlite3 for Electron ${electronVersion} failed (${e.message}). It needs a C++ compiler, python3 and the network (for Electron's headers). Meanwhile \`npx partita start\` runs the workbench in the browser.`);
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(scratch, dir);
  return binding;
}
