import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importModel } from '../../core/host/models.js';
import { addIdxDataset } from '../../core/host/datasets.js';
import { evaluateModel } from '../../core/host/evaluation.js';
import type { SqliteStore } from '../../core/store/sqliteStore.js';
import { CORPUS_DIR, PPOCR, ZOO, tempStore } from '../helpers.js';

const expected = JSON.parse(readFileSync(join(CORPUS_DIR, '../expected.json'), 'utf8')) as Record<string, { code: string; command: string }>;

let store: SqliteStore;
let cleanup: () => void;
beforeEach(() => ({ store, cleanup } = tempStore()));
afterEach(() => cleanup());

describe('import', () => {
  it('imports the PP-OCR models (Constant-node weights, opset 9/11) and reuses the row on a second import', async () => {
    for (const m of PPOCR) {
      const first = await importModel(store, m.file);
      expect(first.reused).toBe(false);
      expect(first.model.paramCount).toBeGreaterThan(100_000);
      const again = await importModel(store, m.file, { name: 'other-name' });
      expect(again.reused).toBe(true);
      expect(again.model.id).toBe(first.model.id);
      expect(store.layers(first.model.id).length).toBe(first.model.layerCount);
    }
    expect(store.listModels().length).toBe(3);
  });

  it('stores the exact file bytes, hashed', async () => {
    const r = await importModel(store, ZOO[0].file);
    expect(Buffer.from(store.modelContent(r.model.id)).equals(readFileSync(ZOO[0].file))).toBe(true);
    expect(r.model.name).toBe('fmnist-cnn');
    const t = store.tensors(r.model.id);
    expect(t.filter((x) => x.kind === 'input').map((x) => x.name)).toEqual(['input']);
  });

  it('names a second, different file with the same stem uniquely, and refuses a taken explicit name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'partita-names-'));
    copyFileSync(join(CORPUS_DIR, 'good-add.onnx'), join(dir, 'fmnist-cnn.onnx'));
    await importModel(store, ZOO[0].file);
    const second = await importModel(store, join(dir, 'fmnist-cnn.onnx'));
    expect(second.model.name).toBe('fmnist-cnn-2');
    await expect(importModel(store, PPOCR[2].file, { name: 'fmnist-cnn' })).rejects.toMatchObject({ code: 'model-name-taken' });
    await expect(importModel(store, PPOCR[2].file, { name: '../x' })).rejects.toMatchObject({ code: 'model-name-invalid' });
  });

  describe('bad files: a clear error code, nothing written', () => {
    for (const [file, e] of Object.entries(expected).filter(([, e]) => e.command === 'import')) {
      it(`${file} -> ${e.code}`, async () => {
        const before = store.rowCounts();
        const err = await importModel(store, join(CORPUS_DIR, file)).then(
          () => undefined,
          (x: unknown) => x,
        );
        expect(err).toMatchObject({ name: 'CoreError', code: e.code });
        const msg = (err as Error).message;
        expect(msg).toMatch(/\.$/);
        expect(msg).toContain(file);
        expect(store.rowCounts()).toEqual(before);
      });
    }
    it('a missing file', async () => {
      await expect(importModel(store, '/nonexistent/model.onnx')).rejects.toMatchObject({ code: 'model-file-missing' });
    });
  });

  it('a dataset whose images do not fit the model gives dataset-shape-mismatch and writes no measurement', async () => {
    await importModel(store, ZOO[0].file);
    addIdxDataset(store, 'tiny', join(CORPUS_DIR, 'tiny8x8-images.idx.gz'), join(CORPUS_DIR, 'tiny8x8-labels.idx.gz'));
    const before = store.rowCounts();
    await expect(evaluateModel(store, 'fmnist-cnn', 'tiny')).rejects.toMatchObject({ code: expected['tiny8x8-images.idx.gz'].code });
    expect(store.rowCounts()).toEqual(before);
  });

  it('a failure inside the write transaction leaves the database as it was', async () => {
    const before = store.rowCounts();
    // Sabotage the last insert of the transaction (tensors) and check the model row rolled back with it.
    store.db.exec(`CREATE TRIGGER fail_tensors BEFORE INSERT ON tensors BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END;`);
    await expect(importModel(store, ZOO[0].file)).rejects.toThrow(/disk full/);
    expect(store.rowCounts()).toEqual(before);
  });

  it('a corrupt database file is refused with a clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'partita-baddb-'));
    const path = join(dir, 'x.db');
    writeFileSync(path, 'this is not sqlite'.repeat(100));
    return import('../../core/store/sqliteStore.js').then(({ SqliteStore }) => {
      expect(() => SqliteStore.open(path)).toThrow(expect.objectContaining({ code: 'store-unreadable' }));
    });
  });
});
