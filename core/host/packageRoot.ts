import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder of Partita's package.json, found by walking up from this file (works from sources and from dist/). */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'partita') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`package.json of partita not found above ${from}`);
    dir = up;
  }
}
