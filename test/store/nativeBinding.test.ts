/**
 * The desktop app loads better-sqlite3 built for Electron's ABI through PARTITA_SQLITE_BINDING (scripts/start.js
 * builds it with scripts/electronNative.js). Electron cannot run here, so this checks the mechanism with the addon
 * built for this Node: the named binding is the one loaded, and a wrong path is a clear error, not a crash.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore, sqliteOptions } from '../../core/store/sqliteStore.js';
import { ROOT } from '../helpers.js';

const BINDING = join(ROOT, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node');

afterEach(() => {
  delete process.env.PARTITA_SQLITE_BINDING;
});

describe('PARTITA_SQLITE_BINDING', () => {
  it('is not used when unset', () => {
    expect(sqliteOptions()).toEqual({});
  });

  it('opens the store through the named addon', () => {
    process.env.PARTITA_SQLITE_BINDING = BINDING;
    expect(sqliteOptions()).toEqual({ nativeBinding: BINDING });
    const store = SqliteStore.open(':memory:');
    expect(store.db.prepare('SELECT sqlite_version() AS v').get()).toMatchObject({ v: expect.stringMatching(/^3\./) });
    store.close();
  });

  it('names a missing addon and what to do', () => {
    process.env.PARTITA_SQLITE_BINDING = '/nonexistent/better_sqlite3.node';
    expect(() => SqliteStore.open(':memory:')).toThrow(expect.objectContaining({ code: 'sqlite-binding-missing', message: expect.stringContaining('npm start') }));
  });
});
