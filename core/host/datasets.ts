import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CoreError } from '../api/errors.js';
import { FASHION_MNIST_DIR, loadIdxDataset } from '../accuracy/idxDataset.js';
import type { DatasetRow, SqliteStore } from '../store/sqliteStore.js';
import { sha256Hex } from '../util/hash.js';

/** Registers an IDX images (+ labels) pair after reading it once: shape, count, label count and a content hash. */
export function addIdxDataset(store: SqliteStore, name: string, imagesPath: string, labelsPath?: string): DatasetRow {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) {
    throw new CoreError('dataset-name-invalid', `Dataset name '${name}' is not allowed. Use letters, digits, '.', '_' or '-'.`);
  }
  if (store.findDataset(name)) {
    throw new CoreError('dataset-name-taken', `A dataset named '${name}' already exists. Choose another name, or use the existing one.`);
  }
  const images = resolve(imagesPath);
  const labels = labelsPath ? resolve(labelsPath) : null;
  const data = loadIdxDataset(images, labels);
  if (data.count === 0) throw new CoreError('dataset-empty', `'${imagesPath}' holds no images. Give a file with at least one sample.`);
  const sha256 = sha256Hex(Buffer.concat([readFileSync(images), labels ? readFileSync(labels) : Buffer.alloc(0)]));
  const labelCount = data.labels ? Math.max(...data.labels) + 1 : null;
  return store.addDataset({ name, format: 'idx', imagesPath: images, labelsPath: labels, count: data.count, shape: data.sampleShape, labelCount, sha256 });
}

/** The Fashion-MNIST splits from Debian's dataset-fashion-mnist package, registered under fixed names. */
export function addFashionMnist(store: SqliteStore, dir = FASHION_MNIST_DIR): DatasetRow[] {
  const test = join(dir, 't10k-images-idx3-ubyte.gz');
  if (!existsSync(test)) {
    throw new CoreError('dataset-missing', `Fashion-MNIST is not in '${dir}'. Install it with: sudo apt-get install dataset-fashion-mnist.`);
  }
  const out: DatasetRow[] = [];
  for (const [name, prefix] of [['fashion-mnist-test', 't10k'], ['fashion-mnist-train', 'train']] as const) {
    out.push(store.findDataset(name) ?? addIdxDataset(store, name, join(dir, `${prefix}-images-idx3-ubyte.gz`), join(dir, `${prefix}-labels-idx1-ubyte.gz`)));
  }
  return out;
}
