// Bundles the CLI and the renderer with esbuild. Native and large runtime packages stay external for the CLI; the
// renderer is self-contained (dist/renderer: index.html, main.js + main.css, Monaco's workers, the plot worker).
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';

import { fileURLToPath } from 'node:url';

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

const only = process.argv[2]; // 'cli' | 'renderer' | undefined (both)

if (only !== 'renderer') {
  await build({
    entryPoints: { cli: 'core/host/cli.ts' },
    outdir: 'dist',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    packages: 'external',
    logLevel: 'warning',
  });
}

if (only !== 'renderer') {
  // The headless plot process (core/host/plotChild.ts) with Plot and linkedom in one file: Node's permission model
  // lets it read that file and nothing else. linkedom's optional `canvas` and `perf_hooks` are shimmed as in the
  // renderer's plot worker (a bundled ESM file has no `require`).
  await build({
    entryPoints: { plotChild: 'core/host/plotChild.ts' },
    outdir: 'dist',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    legalComments: 'none',
    logLevel: 'warning',
    alias: {
      canvas: fileURLToPath(new URL('../node_modules/linkedom/commonjs/canvas-shim.cjs', import.meta.url)),
      perf_hooks: fileURLToPath(new URL('../renderer/plot/perfHooks.ts', import.meta.url)),
    },
  });
}

if (only !== 'renderer') {
  // Electron's main process (ESM, like the CLI) and its sandboxed preload (one CommonJS file: a sandboxed preload
  // can require only 'electron').
  await Promise.all([
    build({ entryPoints: { main: 'electron/main.ts' }, outdir: 'dist/electron', bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning' }),
    build({ entryPoints: { preload: 'electron/preload.ts' }, outdir: 'dist/electron', outExtension: { '.js': '.cjs' }, bundle: true, platform: 'node', format: 'cjs', target: 'node20', external: ['electron'], logLevel: 'warning' }),
  ]);
}

if (only !== 'cli') {
  // Built beside the live folder and swapped in at the end: a workbench serving dist/renderer (a test run, a second
  // build started by another test run) never finds it half written or missing.
  const live = 'dist/renderer';
  // Folders left by a build that was killed mid-way (its pid is gone).
  for (const f of existsSync('dist') ? readdirSync('dist') : []) {
    const m = /^renderer\.(?:tmp|old)-(\d+)$/.exec(f);
    if (m && !pidAlive(Number(m[1]))) rmSync(`dist/${f}`, { recursive: true, force: true });
  }
  const out = `dist/renderer.tmp-${process.pid}`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const common = {
    bundle: true,
    platform: 'browser',
    target: 'chrome120',
    minify: true,
    sourcemap: false,
    logLevel: 'warning',
    legalComments: 'none',
  };
  // linkedom (the plot worker's DOM) probes for the optional `canvas` and `perf_hooks` packages inside try/catch.
  const shim = (p) => fileURLToPath(new URL(`../node_modules/linkedom/commonjs/${p}`, import.meta.url));
  await Promise.all([
    build({
      ...common,
      entryPoints: { main: 'renderer/main.ts' },
      outdir: out,
      format: 'esm',
      loader: { '.ttf': 'file' },
      assetNames: '[name]',
    }),
    build({
      ...common,
      entryPoints: {
        'editor.worker': 'node_modules/monaco-editor/esm/vs/editor/editor.worker.js',
        'json.worker': 'node_modules/monaco-editor/esm/vs/language/json/json.worker.js',
      },
      outdir: out,
      format: 'iife',
    }),
    build({
      ...common,
      entryPoints: { 'plot.worker': 'renderer/plot/plotWorker.ts' },
      outdir: out,
      format: 'iife',
      alias: { canvas: shim('canvas-shim.cjs'), perf_hooks: fileURLToPath(new URL('../renderer/plot/perfHooks.ts', import.meta.url)) },
    }),
  ]);
  copyFileSync('renderer/index.html', `${out}/index.html`);
  const old = `dist/renderer.old-${process.pid}`;
  // A build running beside this one may put its own folder in place between the two renames: move that aside too.
  for (let i = 0; ; i++) {
    rmSync(old, { recursive: true, force: true });
    try {
      renameSync(live, old);
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
    }
    try {
      renameSync(out, live);
      break;
    } catch (e) {
      if ((e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') || i > 20) throw e;
    }
  }
  rmSync(old, { recursive: true, force: true });
}
