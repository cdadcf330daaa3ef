/**
 * The workbench page: connect to the core, then open the last notebook (or the tour on a fresh store).
 */
import type { ApiClient } from '../core/rpc/client.js';
import type { SavedNotebook } from '../core/api/contract.js';
import { parseNotebook } from '../core/notebook/format.js';
import { loadSettingsNames } from '../core/notebook/settings.js';
import tour from '../experiments/tour/tour.notebook.json' with { type: 'json' };
import { connect, ConnectError } from './connect.js';
import { errorBox } from './dom.js';
import { ModelImport } from './modelImport.js';
import { NotebookBar } from './notebook/notebookBar.js';
import { NotebookView } from './notebook/view.js';
import './style.css';

const app = document.getElementById('app')!;
const banner = document.getElementById('banner')!;

function fatal(e: unknown): void {
  banner.hidden = false;
  banner.replaceChildren(errorBox(e));
  banner.dataset.code = e instanceof ConnectError ? e.code : 'error';
}

async function openInitial(api: ApiClient, view: NotebookView): Promise<void> {
  const { notebooks } = await api['notebooks.list']();
  const last = localStorage.getItem('partita.notebook');
  const id = notebooks.find((n) => n.id === last)?.id ?? notebooks[0]?.id;
  let nb: SavedNotebook;
  if (id) nb = (await api['notebooks.get']({ id })).notebook;
  // The file form (sources as arrays of lines) becomes the contract's notebook (sources as strings).
  else nb = (await api['notebooks.save']({ notebook: parseNotebook(JSON.stringify(tour), 'tour.notebook.json') })).notebook;
  localStorage.setItem('partita.notebook', nb.id);
  await view.open(nb);
}

async function main(): Promise<void> {
  let api: ApiClient;
  try {
    api = await connect(() => fatal(new Error('The connection to the Partita core closed. Restart `partita start` and open the address it prints.')));
  } catch (e) {
    fatal(e);
    return;
  }
  document.body.dataset.connected = 'true';
  const view = new NotebookView(api, await loadSettingsNames(api));
  const bar = new NotebookBar(api, view);
  const models = new ModelImport(api, {
    onImported: async () => view.setNames(await loadSettingsNames(api)),
    onNotebookFile: (text, fileName) => bar.importText(text, fileName),
  });
  models.acceptDrops(document.body);
  view.head.prepend(bar.element);
  app.replaceChildren(models.element, view.element);
  await openInitial(api, view);
  await bar.refresh();
  document.body.dataset.ready = 'true';
}

main().catch(fatal);
