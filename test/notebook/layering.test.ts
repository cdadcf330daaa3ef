import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

/** core/notebook runs in the page and headless in the CLI: the lint rule keeps Node and the DOM out of it. */
describe('core/notebook layering', () => {
  const eslint = new ESLint({ cwd: ROOT });
  const messages = async (file: string, code: string): Promise<string[]> =>
    (await eslint.lintText(code, { filePath: `${ROOT}/${file}` }))[0].messages.filter((m) => m.ruleId?.startsWith('no-restricted-')).map((m) => m.message);

  it('core/notebook may import core/api, core/rpc and the pure engine', async () => {
    expect(await messages('core/notebook/x.ts', "import { CoreError } from '../api/errors.js';\nexport const a = CoreError;\n")).toEqual([]);
    expect(await messages('core/notebook/x.ts', "import type { ApiClient } from '../rpc/client.js';\nexport type A = ApiClient;\n")).toEqual([]);
    expect(await messages('core/notebook/x.ts', "import { solve } from '../plan/solver.js';\nexport const a = solve;\n")).toEqual([]);
  });

  it('core/notebook cannot import Node, the store, the host, the renderer or DOM libraries, nor touch the DOM', async () => {
    for (const code of [
      "import { readFileSync } from 'node:fs';\nexport const a = readFileSync;\n",
      "import { SqliteStore } from '../store/sqliteStore.js';\nexport const a = SqliteStore;\n",
      "import { createHandlers } from '../host/handlers.js';\nexport const a = createHandlers;\n",
      "import { h } from '../../renderer/dom.js';\nexport const a = h;\n",
      "import * as Plot from '@observablehq/plot';\nexport const a = Plot;\n",
      "import { parseHTML } from 'linkedom';\nexport const a = parseHTML;\n",
      "export const a = () => document.createElement('p');\n",
      "export const a = () => window.localStorage;\n",
    ]) {
      expect((await messages('core/notebook/x.ts', code)).length, code).toBe(1);
    }
  });

  it('the renderer reaches core/notebook, and a file in a renderer subfolder cannot reach the store', async () => {
    expect(await messages('renderer/notebook/x.ts', "import { CellGraph } from '../../core/notebook/graph.js';\nexport const a = CellGraph;\n")).toEqual([]);
    expect(await messages('renderer/x.ts', "import { parseNotebook } from '../core/notebook/format.js';\nexport const a = parseNotebook;\n")).toEqual([]);
    expect((await messages('renderer/notebook/x.ts', "import { SqliteStore } from '../../core/store/sqliteStore.js';\nexport const a = SqliteStore;\n")).length).toBe(1);
    expect((await messages('renderer/views/x.ts', "import { runNotebookFile } from '../../core/host/notebookRun.js';\nexport const a = runNotebookFile;\n")).length).toBe(1);
  });

  it('core/notebook type-checks without the DOM library', () => {
    // The lint rule sees globals it is told about; the compiler sees every DOM type and API, so compile the folder
    // (and everything it imports) with the ES library and Node's types only.
    const dir = join(ROOT, 'core/notebook');
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(dir, f));
    const program = ts.createProgram(files, {
      target: ts.ScriptTarget.ES2023,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2023.d.ts'],
      types: ['node'],
      strict: true,
      skipLibCheck: true,
      noEmit: true,
    });
    const errors = ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    expect(errors).toEqual([]);
  });
});
