import { randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { CoreError } from '../api/errors.js';

/**
 * Files the page sends to the core (a model dropped on the window): the page cannot hand the core a path, and one
 * API message is capped at 16 MiB, so a file arrives in numbered chunks, in order, into a temp file of its own.
 * The temp file is what the import then reads; it is removed when the upload is taken, abandoned (no chunk for
 * IDLE_MS) or the core closes. Nothing of an upload reaches the store until its import succeeds.
 */

/** Largest file accepted (a big ResNet or a small LLM); larger models are imported by path. */
export const UPLOAD_MAX_BYTES = 2 * 2 ** 30;
/** Chunk size the page should send: base64 of it stays well under the 16 MiB message cap. */
export const UPLOAD_CHUNK_BYTES = 4 * 2 ** 20;
/** An upload that receives nothing for this long is dropped (the page was closed mid-upload). */
const IDLE_MS = 10 * 60_000;

interface Upload {
  dir: string;
  file: string;
  fd: number | null;
  totalBytes: number;
  receivedBytes: number;
  timer: ReturnType<typeof setTimeout>;
}

/** A chunk as sent (base64), checked: Node's decoder silently skips what is not base64, which would corrupt the file. */
export function decodeChunk(data: string): Uint8Array {
  if (data.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) {
    throw new CoreError('upload-chunk-invalid', 'An upload chunk is not base64 (length a multiple of 4, alphabet A-Z a-z 0-9 + /, "=" padding). Start the upload again.');
  }
  return Buffer.from(data, 'base64');
}

export class UploadArea {
  private uploads = new Map<string, Upload>();

  begin(fileName: string, totalBytes: number): { upload: string; chunkBytes: number } {
    if (totalBytes > UPLOAD_MAX_BYTES) {
      throw new CoreError('upload-too-large', `'${fileName}' has ${totalBytes} bytes; uploads are limited to ${UPLOAD_MAX_BYTES} bytes. Import it by path instead (\`partita import FILE\`).`);
    }
    // Only the base name is kept, cleaned: the page chooses it, and it must not point anywhere but the temp folder.
    const safe = basename(fileName).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '') || 'upload.onnx';
    const dir = mkdtempSync(join(tmpdir(), 'partita-upload-'));
    const file = join(dir, safe);
    const id = randomUUID();
    const u: Upload = { dir, file, fd: openSync(file, 'wx', 0o600), totalBytes, receivedBytes: 0, timer: this.idleTimer(id) };
    this.uploads.set(id, u);
    return { upload: id, chunkBytes: UPLOAD_CHUNK_BYTES };
  }

  /** Appends one chunk; `offset` must be the bytes received so far (chunks in order, none twice). */
  chunk(id: string, offset: number, data: Uint8Array): { receivedBytes: number; totalBytes: number } {
    const u = this.require(id);
    if (offset !== u.receivedBytes) {
      throw new CoreError('upload-out-of-order', `The upload expected the chunk at byte ${u.receivedBytes} and got one at byte ${offset}. Start the upload again.`);
    }
    if (u.receivedBytes + data.byteLength > u.totalBytes) {
      this.discard(id);
      throw new CoreError('upload-too-long', `The upload announced ${u.totalBytes} bytes and received more. Start the upload again.`);
    }
    writeSync(u.fd!, data);
    u.receivedBytes += data.byteLength;
    clearTimeout(u.timer);
    u.timer = this.idleTimer(id);
    return { receivedBytes: u.receivedBytes, totalBytes: u.totalBytes };
  }

  /**
   * Hands a complete upload to `use` as a file path and removes it afterwards, whatever `use` does (an import that
   * fails leaves no file behind, and the upload cannot be retried: the page sends it again).
   */
  async take<T>(id: string, use: (path: string) => Promise<T>): Promise<T> {
    const u = this.require(id);
    if (u.receivedBytes !== u.totalBytes) {
      this.discard(id);
      throw new CoreError('upload-incomplete', `The upload has ${u.receivedBytes} of ${u.totalBytes} bytes. Send the whole file again.`);
    }
    closeSync(u.fd!);
    u.fd = null;
    try {
      return await use(u.file);
    } finally {
      this.discard(id);
    }
  }

  /** Drops an upload and its temp file; false when there was none. */
  discard(id: string): boolean {
    const u = this.uploads.get(id);
    if (!u) return false;
    this.uploads.delete(id);
    clearTimeout(u.timer);
    if (u.fd !== null) closeSync(u.fd);
    rmSync(u.dir, { recursive: true, force: true });
    return true;
  }

  close(): void {
    for (const id of [...this.uploads.keys()]) this.discard(id);
  }

  private require(id: string): Upload {
    const u = this.uploads.get(id);
    if (!u) throw new CoreError('upload-unknown', `No upload '${id}' in progress (it finished, failed or was idle for ${IDLE_MS / 60_000} minutes). Start the upload again.`);
    return u;
  }

  private idleTimer(id: string): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => void this.discard(id), IDLE_MS);
    t.unref();
    return t;
  }
}
