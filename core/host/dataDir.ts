import { homedir } from 'node:os';
import { join } from 'node:path';

/** The per-user data folder, following each platform's convention (XDG on Linux). */
export function userDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'Partita');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Partita');
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'partita');
}

/** The database file: --db wins, then PARTITA_DB, then the per-user default. */
export function defaultDbPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.PARTITA_DB || join(userDataDir(env), 'partita.db');
}
