import { execFileSync } from 'node:child_process';

/** The CLI tests run the real `partita` binary, so build the bundle once before any test file. */
export default function setup(): void {
  execFileSync(process.execPath, ['scripts/build.js'], { stdio: 'inherit' });
}
