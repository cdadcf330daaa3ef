// Bundles the CLI (and later the renderer) with esbuild. Native and large runtime packages stay external.
import { build } from 'esbuild';

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
