/**
 * Bringing a model in: a path on the core's machine (typed), or a file from the user's machine (chosen, or dropped
 * anywhere on the window). A file is sent to the core in chunks (uploads.begin/chunk, then models.importUpload,
 * which checks it exactly as an import by path does), with progress and Cancel (uploads.cancel drops what was sent). A file that is not ONNX is refused
 * by the core (`model-not-onnx`) and shown here; nothing is stored. A `*.notebook.json` dropped on the window is
 * handed to the notebook bar instead.
 */
import type { ApiClient } from '../core/rpc/client.js';
import { errorBox, h } from './dom.js';

/** Base64 of a chunk, built in blocks (String.fromCharCode with millions of arguments overflows the stack). */
function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export interface ModelImportOptions {
  /** After a model was imported (the settings' model names change). */
  onImported(name: string): Promise<void> | void;
  /** A notebook file dropped on the window. */
  onNotebookFile(text: string, fileName: string): Promise<void> | void;
}

export class ModelImport {
  readonly element: HTMLElement;
  private pathInput = h('input', { type: 'text', placeholder: '/path/to/model.onnx on the core’s machine', 'aria-label': 'model path', class: 'import-path' });
  private fileInput = h('input', { type: 'file', accept: '.onnx', hidden: true, 'aria-label': 'model file' });
  private out = h('span', { class: 'import-status', role: 'status' });
  private cancelBtn = h('button', { type: 'button', class: 'import-cancel', hidden: true }, 'Cancel');
  private cancelled = false;
  private busy = false;

  constructor(
    private api: ApiClient,
    private o: ModelImportOptions,
  ) {
    const byPath = h('button', { type: 'button', class: 'import-button' }, 'Import model');
    const choose = h('button', { type: 'button', class: 'import-choose' }, 'Choose file…');
    byPath.addEventListener('click', () => void this.importPath());
    this.pathInput.addEventListener('keydown', (e) => e.key === 'Enter' && void this.importPath());
    choose.addEventListener('click', () => this.fileInput.click());
    this.fileInput.addEventListener('change', () => {
      const f = this.fileInput.files?.[0];
      this.fileInput.value = '';
      if (f) void this.importFile(f);
    });
    this.cancelBtn.addEventListener('click', () => (this.cancelled = true));
    this.element = h('div', { class: 'import-bar' }, this.pathInput, ' ', byPath, ' ', choose, ' or drop an .onnx file on the window ', this.fileInput, this.out, this.cancelBtn);
  }

  /** Accepts files dropped anywhere on `target` (the whole window). */
  acceptDrops(target: HTMLElement): void {
    const hasFiles = (e: DragEvent) => [...(e.dataTransfer?.types ?? [])].includes('Files');
    target.addEventListener('dragover', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      document.body.dataset.dropping = 'true';
    });
    target.addEventListener('dragleave', () => delete document.body.dataset.dropping);
    target.addEventListener('drop', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      delete document.body.dataset.dropping;
      const f = e.dataTransfer?.files[0];
      if (!f) return;
      if (/\.notebook\.json$/i.test(f.name)) void f.text().then((t) => this.o.onNotebookFile(t, f.name));
      else void this.importFile(f);
    });
  }

  private async importPath(): Promise<void> {
    const path = this.pathInput.value.trim();
    if (!path) return this.fail(new Error('Type the path of an .onnx file on the machine the core runs on, or choose a file.'));
    await this.run(async () => this.api['models.import']({ path }));
  }

  /** Sends a file chunk by chunk, then imports it; Cancel stops between chunks (the core drops the partial upload). */
  async importFile(f: File): Promise<void> {
    await this.run(async () => {
      const { upload, chunkBytes } = await this.api['uploads.begin']({ fileName: f.name, bytes: f.size });
      const progress = h('progress', { max: f.size, value: 0, class: 'import-progress' });
      this.out.replaceChildren(`sending ${f.name} `, progress);
      try {
        for (let offset = 0; offset < f.size; offset += chunkBytes) {
          if (this.cancelled) throw Object.assign(new Error(`Import of ${f.name} cancelled; nothing was stored.`), { code: 'cancelled' });
          const bytes = new Uint8Array(await f.slice(offset, offset + chunkBytes).arrayBuffer());
          const r = await this.api['uploads.chunk']({ upload, offset, data: toBase64(bytes) });
          progress.value = r.receivedBytes;
        }
      } catch (e) {
        // Cancelled, or the file could not be read: the core drops what it has now, not after its idle time.
        await this.api['uploads.cancel']({ upload }).catch(() => undefined);
        throw e;
      }
      this.out.replaceChildren(`checking ${f.name}…`);
      return this.api['models.importUpload']({ upload });
    });
  }

  private async run(work: () => Promise<{ model: { name: string; layerCount: number }; reused: boolean }>): Promise<void> {
    if (this.busy) return this.fail(new Error('An import is in progress; wait for it or cancel it.'));
    this.busy = true;
    this.cancelled = false;
    this.cancelBtn.hidden = false;
    this.out.replaceChildren('importing…');
    delete this.out.dataset.model;
    try {
      const r = await work();
      this.out.replaceChildren(`${r.reused ? 'Already imported' : 'Imported'}: ${r.model.name} (${r.model.layerCount} layers)`);
      this.out.dataset.model = r.model.name;
      await this.o.onImported(r.model.name);
    } catch (e) {
      this.fail(e);
    } finally {
      this.busy = false;
      this.cancelBtn.hidden = true;
    }
  }

  private fail(e: unknown): void {
    this.out.replaceChildren(errorBox(e));
  }
}
