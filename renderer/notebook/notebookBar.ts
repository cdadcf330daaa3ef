/**
 * The notebook bar: which saved notebook is open (a list of all of them), and New, Duplicate, Delete, Import file,
 * Export file. Files are the same `*.notebook.json` text the CLI reads and writes (core/notebook/format.ts), so a
 * notebook moves between the workbench, git and `partita notebook run`. A file that is corrupt or from a newer
 * Partita is refused here, in the bar, with the parser's message; the open notebook stays as it was.
 */
import type { ApiClient } from '../../core/rpc/client.js';
import type { NotebookCell } from '../../core/api/contract.js';
import { parseNotebook, serializeNotebook } from '../../core/notebook/format.js';
import { errorBox, h } from '../dom.js';
import type { NotebookView } from './view.js';

const NEW_NOTEBOOK_CELLS: NotebookCell[] = [{ id: 'notes', kind: 'markdown', source: '# New notebook\n\nAdd a **settings** cell (model, device, link, objective, constraints), then **Add view → Pareto front**: it plans with those settings and re-plans as you edit them.' }];

/** A file name for a notebook: its name, reduced to characters every file system accepts. */
export function notebookFileName(name: string): string {
  return `${name.trim().replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'notebook'}.notebook.json`;
}

export class NotebookBar {
  readonly element: HTMLElement;
  private select = h('select', { class: 'notebook-select', 'aria-label': 'open notebook' });
  private status = h('span', { class: 'notebook-bar-status', role: 'status' });
  private fileInput = h('input', { type: 'file', accept: '.json,application/json', hidden: true, 'aria-label': 'notebook file' });
  private deleteBtn = h('button', { type: 'button', 'data-nb': 'delete' }, 'Delete');
  private confirmDelete = false;
  /** The bar's actions, one after another. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private api: ApiClient,
    private view: NotebookView,
  ) {
    const button = (action: string, label: string, run: () => Promise<string>) => {
      const b = h('button', { type: 'button', 'data-nb': action }, label);
      b.addEventListener('click', () => {
        this.resetDelete();
        void this.guard(run);
      });
      return b;
    };
    // Not queued: the file picker opens only from the click itself (a user gesture).
    const importBtn = h('button', { type: 'button', 'data-nb': 'import' }, 'Import file…');
    importBtn.addEventListener('click', () => {
      this.resetDelete();
      this.fileInput.click();
    });
    this.select.addEventListener('change', () => {
      this.resetDelete();
      void this.guard(() => this.openId(this.select.value));
    });
    this.deleteBtn.addEventListener('click', () => void this.guard(() => this.delete()));
    this.fileInput.addEventListener('change', () => {
      const f = this.fileInput.files?.[0];
      this.fileInput.value = '';
      if (f) void this.guard(() => this.importFile(f));
    });
    this.element = h(
      'div',
      { class: 'notebook-bar' },
      h('label', {}, 'Notebook ', this.select),
      button('new', 'New', () => this.create()),
      button('duplicate', 'Duplicate', () => this.duplicate()),
      this.deleteBtn,
      importBtn,
      button('export', 'Export file', async () => this.exportFile()),
      this.fileInput,
      this.status,
    );
    view.onSaved = () => void this.refresh();
  }

  /** Lists the saved notebooks, the open one selected. */
  async refresh(): Promise<void> {
    const { notebooks } = await this.api['notebooks.list']();
    const open = this.view.id;
    this.select.replaceChildren(...notebooks.map((n) => h('option', { value: n.id, selected: n.id === open }, `${n.name} (${n.cellCount} ${n.cellCount === 1 ? 'cell' : 'cells'})`)));
    this.deleteBtn.disabled = notebooks.length === 0 || !open;
  }

  /** Opens a notebook file's text (the Import button, or a `.notebook.json` dropped on the window) as a new saved notebook. */
  importText(text: string, fileName: string): Promise<void> {
    return this.guard(() => this.importNotebook(text, fileName));
  }

  private async importNotebook(text: string, fileName: string): Promise<string> {
    const nb = parseNotebook(text, fileName);
    const saved = (await this.api['notebooks.save']({ notebook: { name: nb.name, cells: nb.cells } })).notebook;
    await this.show(saved.id);
    return `Imported ${fileName} as "${saved.name}".`;
  }

  private async importFile(f: File): Promise<string> {
    return this.importNotebook(await f.text(), f.name);
  }

  private async openId(id: string): Promise<string> {
    await this.show(id);
    return '';
  }

  private async show(id: string): Promise<void> {
    const nb = (await this.api['notebooks.get']({ id })).notebook;
    await this.view.open(nb);
    localStorage.setItem('partita.notebook', nb.id);
    await this.refresh();
  }

  private async create(): Promise<string> {
    const saved = (await this.api['notebooks.save']({ notebook: { name: 'Untitled', cells: NEW_NOTEBOOK_CELLS } })).notebook;
    await this.show(saved.id);
    return '';
  }

  private async duplicate(): Promise<string> {
    // The copy is of what is on screen: save a pending edit first.
    await this.view.save();
    const id = this.view.id;
    if (!id) return '';
    const copy = (await this.api['notebooks.duplicate']({ id })).notebook;
    await this.show(copy.id);
    return `Opened the copy "${copy.name}".`;
  }

  /** Two clicks: the first asks, the second deletes (nothing is lost by a stray click). */
  private async delete(): Promise<string> {
    const id = this.view.id;
    if (!id) return '';
    if (!this.confirmDelete) {
      this.confirmDelete = true;
      this.deleteBtn.textContent = 'Really delete?';
      return 'Click again to delete this notebook from the store (export it first to keep a file).';
    }
    this.resetDelete();
    const name = this.view.current().name;
    await this.api['notebooks.delete']({ id });
    const { notebooks } = await this.api['notebooks.list']();
    if (notebooks[0]) await this.show(notebooks[0].id);
    else await this.create();
    return `Deleted "${name}".`;
  }

  private async exportFile(): Promise<string> {
    const nb = this.view.current();
    const url = URL.createObjectURL(new Blob([serializeNotebook(nb)], { type: 'application/json' }));
    const a = h('a', { href: url, download: notebookFileName(nb.name) });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return `Exported ${notebookFileName(nb.name)}.`;
  }

  private resetDelete(): void {
    this.confirmDelete = false;
    this.deleteBtn.textContent = 'Delete';
  }

  /**
   * Runs an action after those before it (two quick clicks never open two notebooks at once, and messages show in
   * the order of the clicks), then shows what it says, or its error: the open notebook is left as it was.
   */
  private guard(run: () => Promise<string>): Promise<void> {
    const next = this.queue.then(async () => {
      try {
        this.status.replaceChildren(await run());
      } catch (e) {
        this.status.replaceChildren(errorBox(e));
        await this.refresh().catch(() => undefined);
      }
    });
    this.queue = next;
    return next;
  }
}
