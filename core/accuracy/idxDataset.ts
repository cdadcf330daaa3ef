import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { CoreError } from '../api/errors.js';

/**
 * IDX files (the MNIST family's format): a big-endian header `0 0 type ndim`, ndim uint32 sizes, then the data.
 * We read unsigned bytes (type 0x08), which is what image and label files use; gzip is unwrapped transparently.
 */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function parseIdx(bytes: Uint8Array, fileName: string): IdxArray {
  const bad = (why: string): CoreError =>
    new CoreError('dataset-not-idx', `'${fileName}' is not an IDX file (${why}). Give the MNIST-style images/labels files, gzipped or not.`);
  if (bytes.length < 8) throw bad('too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0) !== 0) throw bad('bad magic number');
  const type = bytes[2];
  const ndim = bytes[3];
  if (type !== 0x08) throw bad(`element type 0x${type.toString(16)} is not unsigned byte`);
  if (ndim < 1 || ndim > 4 || bytes.length < 4 + 4 * ndim) throw bad(`${ndim} dimensions`);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i));
  const start = 4 + 4 * ndim;
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - start < count) throw bad(`holds ${bytes.length - start} bytes of data, header promises ${count}`);
  return { dims, data: bytes.subarray(start, start + count) };
}

export function readIdxFile(path: string): IdxArray {
  let raw: Uint8Array;
  try {
    raw = readFileSync(path);
  } catch {
    throw new CoreError('dataset-missing', `Dataset file '${path}' cannot be read. Check the path (Fashion-MNIST: apt-get install dataset-fashion-mnist).`);
  }
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = gunzipSync(raw);
    } catch {
      throw new CoreError('dataset-not-idx', `'${path}' looks gzipped but does not unpack. Download or copy the file again.`);
    }
  }
  return parseIdx(raw, path);
}

/** A labelled image set held in memory as bytes: 10k Fashion-MNIST images are 7.8 MB. */
export interface LabelledImages {
  /** Per-sample shape, e.g. [28, 28]. */
  sampleShape: number[];
  count: number;
  pixels: Uint8Array;
  labels: Uint8Array | null;
}

export function loadIdxDataset(imagesPath: string, labelsPath: string | null): LabelledImages {
  const images = readIdxFile(imagesPath);
  if (images.dims.length < 2) {
    throw new CoreError('dataset-not-idx', `'${imagesPath}' holds a ${images.dims.length}-D array, not images. Pass the images file as --images.`);
  }
  let labels: Uint8Array | null = null;
  if (labelsPath) {
    const l = readIdxFile(labelsPath);
    if (l.dims.length !== 1 || l.dims[0] !== images.dims[0]) {
      throw new CoreError(
        'dataset-label-mismatch',
        `Labels '${labelsPath}' (${l.dims.join('x')}) do not match the ${images.dims[0]} images of '${imagesPath}'. Pair the images file with its own labels file.`,
      );
    }
    labels = l.data;
  }
  return { sampleShape: images.dims.slice(1), count: images.dims[0], pixels: images.data, labels };
}

/** Where Debian's dataset-fashion-mnist package puts the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Samples offset..offset+count of an image set as float32 pixels in [0, 1] (the zoo's input convention), row-major. */
export function pixelBatch(data: LabelledImages, offset: number, count: number): Float32Array {
  const per = data.sampleShape.reduce((a, b) => a * b, 1);
  const src = data.pixels.subarray(offset * per, (offset + count) * per);
  const x = new Float32Array(src.length);
  for (let i = 0; i < x.length; i++) x[i] = src[i] / 255;
  return x;
}
