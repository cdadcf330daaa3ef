import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../core/store/migrations.js';
import { SqliteStore } from '../../core/store/sqliteStore.js';
import { tempStore } from '../helpers.js';

describe('SqliteStore', () => {
  it('opens in WAL mode with foreign keys and the latest schema', () => {
    const { store, path, cleanup } = tempStore();
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    for (const t of ['models', 'layers', 'tensors', 'profiles', 'devices', 'links', 'measurements', 'datasets']) expect(store.rowCounts()).toHaveProperty(t);
    store.close();
    // Re-opening runs no migration twice.
    const again = SqliteStore.open(path);
    expect(again.schemaVersion).toBe(MIGRATIONS.length);
    again.close();
    cleanup();
  });

  it('refuses a database written by a newer Partita, and leaves it untouched', async () => {
    const { store, path, cleanup } = tempStore();
    store.db.pragma(`user_version = ${MIGRATIONS.length + 5}`);
    store.close();
    expect(() => SqliteStore.open(path)).toThrow(expect.objectContaining({ code: 'store-newer-version' }));
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length + 5);
    db.close();
    cleanup();
  });

  it('deleting a model cascades to its layers, tensors, file and profiles', () => {
    const { store, cleanup } = tempStore();
    const m = store.insertModel(
      { sha256: 'ab', name: 'm', sourcePath: null, bytes: 1, irVersion: 8, opset: 13, producer: '', layerCount: 1, paramCount: 0, weightBytes: 0, inputs: [], outputs: [] },
      new Uint8Array([1]),
      [{ position: 1, name: 'n', opType: 'Relu', domain: '', inputs: ['x'], outputs: ['y'], weightInputs: [] }],
      [{ name: 'x', kind: 'input', producer: 0, consumers: [1], isOutput: false, dataType: null, dims: null, bytes: null }],
    );
    store.saveProfile({ modelId: m.id, kind: 'static', settingsHash: 'h', settings: {}, summary: {}, layers: [], tensors: [] });
    store.deleteModel(m.id);
    const counts = store.rowCounts();
    for (const t of ['models', 'model_files', 'layers', 'tensors', 'profiles']) expect(counts[t], t).toBe(0);
    cleanup();
  });
});
