#!/usr/bin/env node
// The `partita` command: runs the bundled CLI (built by `npm run build`, which `npm install` runs via "prepare").
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('error: Partita is not built yet. Run `npm install` (or `npm run build`) in its folder first.\n');
  process.exit(1);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
