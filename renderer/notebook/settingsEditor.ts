/**
 * The settings cell editor: Monaco with JSON and the settings JSON Schema (completion, hover, inline markers),
 * plus a budget slider that edits `constraints.maxDegradation` in place, the same way typing would.
 */
import * as monaco from '../monaco.js';
import { h } from '../dom.js';

declare global {
  interface Window {
    MonacoEnvironment?: monaco.Environment;
  }
}

self.MonacoEnvironment = {
  getWorker(_id: string, label: string) {
    return new Worker(new URL(label === 'json' ? 'json.worker.js' : 'editor.worker.js', location.href).href, { name: label });
  },
};

const schemaUris = new Set<string>();
let currentSchema: Record<string, unknown> = { type: 'object' };

function applySchema(): void {
  monaco.jsonDefaults.setDiagnosticsOptions({
    validate: true,
    allowComments: false,
    enableSchemaRequest: false,
    schemas: [{ uri: 'partita://schemas/settings.json', fileMatch: [...schemaUris], schema: currentSchema }],
  });
}

/** Replaces the settings schema (e.g. after the model list changed). */
export function setSettingsSchema(schema: Record<string, unknown>): void {
  currentSchema = schema;
  applySchema();
}

const NUMBER_RE = String.raw`(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)`;
const BUDGET_RE = new RegExp(String.raw`("maxDegradation"\s*:\s*)` + NUMBER_RE);

export interface SettingsEditor {
  element: HTMLElement;
  getValue(): string;
  setValue(text: string): void;
  /** Sets constraints.maxDegradation by editing the number in the text (undoable, like typing). */
  setBudget(value: number): boolean;
  /**
   * Sets the first number written as `"key": <number>` (e.g. `uplinkBps` or `powerTxW` of a problem's link or
   * device) by editing it in the text, like typing; false when there is none.
   */
  setNumber(key: string, value: number): boolean;
  dispose(): void;
}

export function createSettingsEditor(cellId: string, source: string, onChange: (text: string) => void): SettingsEditor {
  const uri = monaco.Uri.parse(`inmemory://partita/${cellId}.settings.json`);
  schemaUris.add(uri.toString());
  applySchema();
  monaco.editor.getModel(uri)?.dispose();
  const model = monaco.editor.createModel(source, 'json', uri);
  const host = h('div', { class: 'monaco-host' });
  const slider = h('input', { type: 'range', min: 0, max: 0.05, step: 0.0005, class: 'budget-slider', 'aria-label': 'accuracy budget' });
  const sliderLabel = h('output', { class: 'budget-value' });
  const sliderRow = h('label', { class: 'budget-row' }, 'Accuracy budget ', slider, ' ', sliderLabel);
  const element = h('div', { class: 'settings-editor' }, host, sliderRow);
  const lines = Math.min(24, Math.max(6, source.split('\n').length + 1));
  host.style.height = `${lines * 19 + 10}px`;
  const editor = monaco.editor.create(host, {
    model,
    automaticLayout: true,
    minimap: { enabled: false },
    scrollBeyondLastLine: false,
    lineNumbers: 'off',
    fontSize: 13,
    tabSize: 2,
    quickSuggestions: { strings: true, other: true, comments: false },
    renderValidationDecorations: 'on',
    fixedOverflowWidgets: true,
    folding: true,
    // Settings can hold a whole planning problem (tens of thousands of lines): features that ask the JSON worker for
    // the whole document's symbols or colours after every edit cost the live re-plan tens of milliseconds of the
    // page's time, for nothing a settings cell needs.
    stickyScroll: { enabled: false },
    colorDecorators: false,
    links: false,
  });
  const syncSlider = () => {
    const m = BUDGET_RE.exec(model.getValue());
    sliderRow.hidden = !m;
    if (m) {
      slider.value = m[2];
      sliderLabel.textContent = `${(100 * Number(m[2])).toFixed(2)}%`;
    }
  };
  syncSlider();
  const sub = model.onDidChangeContent(() => {
    syncSlider();
    onChange(model.getValue());
  });
  const setNumber = (re: RegExp, value: number): boolean => {
    const text = model.getValue();
    const m = re.exec(text);
    if (!m) return false;
    const start = model.getPositionAt(m.index + m[1].length);
    const end = model.getPositionAt(m.index + m[0].length);
    const str = String(Number(value.toFixed(6)));
    model.pushEditOperations([], [{ range: new monaco.Range(start.lineNumber, start.column, end.lineNumber, end.column), text: str }], () => null);
    return true;
  };
  const setBudget = (value: number): boolean => setNumber(BUDGET_RE, value);
  slider.addEventListener('input', () => setBudget(Number(slider.value)));
  return {
    element,
    getValue: () => model.getValue(),
    setValue: (text: string) => model.setValue(text),
    setBudget,
    setNumber: (key: string, value: number) => setNumber(new RegExp(`("${key.replace(/[^\w]/g, '')}"\\s*:\\s*)${NUMBER_RE}`), value),
    dispose() {
      sub.dispose();
      editor.dispose();
      model.dispose();
      schemaUris.delete(uri.toString());
    },
  };
}
