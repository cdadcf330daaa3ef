/**
 * Models sent from the page in chunks (a file dropped on the window), and the notebook management the page's
 * notebook bar uses: through the real API (contract validation on both sides) over a real SQLite store.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiClient } from '../../core/rpc/client.js';
import { inMemoryCore, tempStore, ZOO } from '../helpers.js';
import type { SqliteStore } from '../../core/store/sqliteStore.js';

let store: SqliteStore;
let api: ApiClient;
let stop: () => void;
let cleanup: () => void;

beforeEach(() => {
  ({ store, cleanup } = tempStore());
  ({ api, stop } = inMemoryCore(store, { validateResults: true }));
});
afterEach(() => {
  stop();
  cleanup();
});

const uploadDirs = () => readdirSync(tmpdir()).filter((f) => f.startsWith('partita-upload-')).length;

async function send(bytes: Uint8Array, fileName: string, chunkBytes?: number): Promise<string> {
  const b = await api['uploads.begin']({ fileName, bytes: bytes.byteLength });
  const step = chunkBytes ?? b.chunkBytes;
  for (let off = 0; off < bytes.byteLength; off += step) {
    const r = await api['uploads.chunk']({ upload: b.upload, offset: off, data: Buffer.from(bytes.subarray(off, off + step)).toString('base64') });
    expect(r.receivedBytes).toBe(Math.min(off + step, bytes.byteLength));
  }
  return b.upload;
}

describe('models.importUpload', () => {
  it('imports a zoo model sent in many chunks, byte for byte, and leaves no temp file', async () => {
    const before = uploadDirs();
    const file = readFileSync(ZOO[0]!.file);
    const upload = await send(file, 'fmnist-cnn.onnx', 7001);
    expect(uploadDirs()).toBe(before + 1);
    const r = await api['models.importUpload']({ upload });
    expect(r.reused).toBe(false);
    expect(r.model.name).toBe('fmnist-cnn');
    expect(Buffer.from(store.modelContent(r.model.id)).equals(file)).toBe(true);
    expect(uploadDirs()).toBe(before);
    // The same content again is the same model.
    const again = await api['models.importUpload']({ upload: await send(file, 'other-name.onnx') });
    expect(again).toMatchObject({ reused: true, model: { id: r.model.id } });
  });

  it('refuses a file that is not ONNX with model-not-onnx, stores nothing and removes the upload', async () => {
    const before = uploadDirs();
    const upload = await send(new TextEncoder().encode('this is a text file, not a model\n'.repeat(100)), 'notes.onnx');
    await expect(api['models.importUpload']({ upload })).rejects.toMatchObject({ code: 'model-not-onnx' });
    expect((await api['models.list']()).models).toEqual([]);
    expect(uploadDirs()).toBe(before);
    await expect(api['models.importUpload']({ upload })).rejects.toMatchObject({ code: 'upload-unknown' });
  });

  it('refuses chunks out of order, bad base64, too many bytes, and an incomplete upload', async () => {
    const b = await api['uploads.begin']({ fileName: '../../etc/passwd', bytes: 8 });
    await expect(api['uploads.chunk']({ upload: b.upload, offset: 4, data: 'AAAA' })).rejects.toMatchObject({ code: 'upload-out-of-order' });
    await expect(api['uploads.chunk']({ upload: b.upload, offset: 0, data: 'A!A=' })).rejects.toMatchObject({ code: 'upload-chunk-invalid' });
    await api['uploads.chunk']({ upload: b.upload, offset: 0, data: 'AAAA' });
    await expect(api['models.importUpload']({ upload: b.upload })).rejects.toMatchObject({ code: 'upload-incomplete' });
    const c = await api['uploads.begin']({ fileName: 'x.onnx', bytes: 2 });
    await expect(api['uploads.chunk']({ upload: c.upload, offset: 0, data: 'AAAA' })).rejects.toMatchObject({ code: 'upload-too-long' });
    await expect(api['uploads.begin']({ fileName: 'huge.onnx', bytes: 3 * 2 ** 30 })).rejects.toMatchObject({ code: 'upload-too-large' });
    // Cancel drops an upload and its temp file.
    const before = uploadDirs();
    const d = await api['uploads.begin']({ fileName: 'y.onnx', bytes: 6 });
    expect(uploadDirs()).toBe(before + 1);
    expect(await api['uploads.cancel']({ upload: d.upload })).toEqual({ cancelled: true });
    expect(uploadDirs()).toBe(before);
    expect(await api['uploads.cancel']({ upload: d.upload })).toEqual({ cancelled: false });
    await expect(api['uploads.chunk']({ upload: d.upload, offset: 0, data: 'AAAA' })).rejects.toMatchObject({ code: 'upload-unknown' });
    expect((await api['models.list']()).models).toEqual([]);
  });
});

describe('notebooks.duplicate / notebooks.delete', () => {
  it('copies a notebook under a new id and deletes only the one named', async () => {
    const { notebook } = await api['notebooks.save']({ notebook: { name: 'Study', cells: [{ id: 'm', kind: 'markdown', source: '# hi' }] } });
    const copy = (await api['notebooks.duplicate']({ id: notebook.id })).notebook;
    expect(copy.id).not.toBe(notebook.id);
    expect(copy).toMatchObject({ name: 'Study (copy)', cells: notebook.cells });
    expect((await api['notebooks.delete']({ id: notebook.id })).deleted).toBe(true);
    expect((await api['notebooks.delete']({ id: notebook.id })).deleted).toBe(false);
    expect((await api['notebooks.list']()).notebooks.map((n) => n.id)).toEqual([copy.id]);
    await expect(api['notebooks.duplicate']({ id: 'nope' })).rejects.toMatchObject({ code: 'notebook-unknown' });
  });
});
