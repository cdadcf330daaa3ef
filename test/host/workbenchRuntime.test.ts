import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { readRuntimeFile, runtimeFilePath, writeRuntimeFile } from '../../core/host/workbenchRuntime.js';
import { tempStore } from '../helpers.js';

describe('the running workbench as the CLI finds it', () => {
  const t = tempStore();
  afterAll(() => t.cleanup());

  it('reads its own file, and a missing, damaged or stale one is "no workbench running" with what to do', () => {
    expect(() => readRuntimeFile(t.path)).toThrow(expect.objectContaining({ code: 'workbench-not-running' }));
    const r = { pid: process.pid, apiUrl: 'ws://127.0.0.1:1234/api', origin: 'http://127.0.0.1:1234', token: 'a'.repeat(43), agentUrl: 'ws://127.0.0.1:5678/agent' };
    writeRuntimeFile(t.path, r);
    expect(readRuntimeFile(t.path)).toEqual(r);
    writeFileSync(runtimeFilePath(t.path), '{"pid": 12');
    expect(() => readRuntimeFile(t.path)).toThrow(expect.objectContaining({ code: 'workbench-not-running', message: expect.stringContaining('partita serve') }));
    // A process id that cannot exist: the workbench that wrote the file is gone.
    writeRuntimeFile(t.path, { ...r, pid: 2 ** 22 + 1 });
    expect(() => readRuntimeFile(t.path)).toThrow(/is gone/);
  });
});
