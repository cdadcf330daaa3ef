import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

/** The layering rule is part of the architecture: check it fires, so a config edit cannot silently drop it. */
describe('import layering lint', () => {
  const eslint = new ESLint({ cwd: ROOT });
  const violations = async (file: string, code: string): Promise<string[]> =>
    (await eslint.lintText(code, { filePath: `${ROOT}/${file}` }))[0].messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);

  it('core/api may import zod only', async () => {
    expect(await violations('core/api/x.ts', "import { z } from 'zod';\nexport const a = z;\n")).toEqual([]);
    expect((await violations('core/api/x.ts', "import { readFileSync } from 'node:fs';\nexport const a = readFileSync;\n")).length).toBe(1);
    expect(await violations('core/api/x.ts', "import { CoreError } from './errors.js';\nexport const a = CoreError;\n")).toEqual([]);
    expect((await violations('core/api/x.ts', "import { serveApi } from '../rpc/server.js';\nexport const a = serveApi;\n")).length).toBe(1);
  });
  it('engine folders cannot reach SQLite, ONNX Runtime or the host', async () => {
    expect((await violations('core/plan/x.ts', "import Database from 'better-sqlite3';\nexport const a = Database;\n")).length).toBe(1);
    expect((await violations('core/quant/x.ts', "import * as ort from 'onnxruntime-node';\nexport const a = ort;\n")).length).toBe(1);
    expect((await violations('core/profile/x.ts', "import { main } from '../host/cli.js';\nexport const a = main;\n")).length).toBe(1);
  });
  it('the renderer reaches the core only through api and rpc', async () => {
    expect((await violations('renderer/x.ts', "import { join } from 'node:path';\nexport const a = join;\n")).length).toBe(1);
    expect((await violations('renderer/x.ts', "import { SqliteStore } from '../core/store/sqliteStore.js';\nexport const a = SqliteStore;\n")).length).toBe(1);
    expect(await violations('renderer/x.ts', "import { CoreError } from '../core/api/errors.js';\nexport const a = CoreError;\n")).toEqual([]);
  });
});
