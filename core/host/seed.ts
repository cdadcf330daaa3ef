import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FASHION_MNIST_DIR } from '../accuracy/idxDataset.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { addFashionMnist } from './datasets.js';
import { importModel } from './models.js';
import { packageRoot } from './packageRoot.js';
import { seedPresets } from './planning.js';

export interface ZooEntry {
  name: string;
  file: string;
  sha256: string;
  top1: number;
}

export function zooDir(): string {
  return join(packageRoot(), 'experiments', 'zoo');
}

export function zooManifest(): { models: ZooEntry[] } {
  return JSON.parse(readFileSync(join(zooDir(), 'manifest.json'), 'utf8'));
}

/**
 * The embedded default: the bundled reference models and, when Debian's package is installed, Fashion-MNIST.
 * Idempotent: re-running it finds everything in place.
 */
export async function seedDefaults(store: SqliteStore): Promise<{ models: string[]; datasets: string[]; notes: string[] }> {
  const models: string[] = [];
  const notes: string[] = [];
  for (const m of zooManifest().models) {
    const r = await importModel(store, join(zooDir(), m.file), store.findModel(m.name) ? {} : { name: m.name });
    models.push(r.model.name);
  }
  seedPresets(store);
  let datasets: string[] = [];
  if (existsSync(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'))) datasets = addFashionMnist(store).map((d) => d.name);
  else notes.push('Fashion-MNIST is not installed: sudo apt-get install dataset-fashion-mnist, then `partita datasets add fashion-mnist`.');
  return { models, datasets, notes };
}
