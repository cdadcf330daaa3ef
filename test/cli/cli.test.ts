import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../core/store/sqliteStore.js';
import { CORPUS_DIR, PPOCR, ROOT, ZOO } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'partita-cli-'));
const db = join(dir, 'cli.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the real `partita` binary as a user would. */
function partita(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/partita.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, PARTITA_DB: db },
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('partita CLI', () => {
  it('--help on the program and on every subcommand', () => {
    const top = partita('--help');
    expect(top.code).toBe(0);
    for (const sub of ['import', 'models', 'profile', 'eval', 'init']) {
      expect(top.stdout).toContain(sub);
      const r = partita(sub, '--help');
      expect(r.code, sub).toBe(0);
      expect(r.stdout).toMatch(/Usage: partita/);
    }
    for (const sub of ['add', 'list']) expect(partita('datasets', sub, '--help').code).toBe(0);
  });

  it('imports, lists and profiles with --json; the global --db is honoured', () => {
    const other = join(dir, 'other.db');
    const imp = partita('--db', other, '--json', 'import', ZOO[0].file);
    expect(imp.code, imp.stderr).toBe(0);
    const m = JSON.parse(imp.stdout);
    expect(m).toMatchObject({ name: 'fmnist-cnn', reused: false });
    const list = JSON.parse(partita('--db', other, 'models', '--json').stdout);
    expect(list.map((x: { name: string }) => x.name)).toEqual(['fmnist-cnn']);
    // PARTITA_DB's database did not receive it.
    const s = SqliteStore.open(db);
    expect(s.listModels()).toEqual([]);
    s.close();

    const prof = partita('--db', other, '--json', 'profile', 'fmnist-cnn', '--runs', '3', '--warmup', '1');
    expect(prof.code, prof.stderr).toBe(0);
    const p = JSON.parse(prof.stdout);
    expect(p.static.layers.length).toBe(m.layerCount);
    expect(p.latency.layers.every((l: { latencyMs: number }) => l.latencyMs > 0)).toBe(true);
    // The same settings again come from the cache.
    expect(JSON.parse(partita('--db', other, '--json', 'profile', 'fmnist-cnn', '--runs', '3', '--warmup', '1').stdout).cached).toEqual({ static: true, latency: true });
  });

  it('bad input: one clear line on stderr, no stack trace, exit code 1', () => {
    for (const file of ['empty.onnx', 'random.onnx', 'cycle.onnx', 'unknown-op.onnx']) {
      const r = partita('import', join(CORPUS_DIR, file));
      expect(r.code, file).toBe(1);
      expect(r.stderr).toMatch(/^error: .+\.\s\[model-[a-z-]+\]\n$/);
      expect(r.stderr).not.toMatch(/\bat .+\.(js|ts):\d+/);
    }
    const j = partita('--json', 'import', join(CORPUS_DIR, 'empty.onnx'));
    expect(JSON.parse(j.stdout).error.code).toBe('model-empty');
    expect(partita('profile', 'no-such-model').stderr).toContain('[model-unknown]');
    expect(partita('profile', 'x', '--runs', 'abc').code).toBe(2);
  });

  it('a dynamic-shape model asks for --input-shape, then profiles with it', () => {
    expect(partita('import', PPOCR[2].file).code).toBe(0);
    const r = partita('profile', 'ch_ppocr_mobile_v2.0_cls_infer', '--static-only');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[input-shape-required]');
    const ok = partita('--json', 'profile', 'ch_ppocr_mobile_v2.0_cls_infer', '--static-only', '--input-shape', PPOCR[2].inputShape.join('x'));
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).static.summary.macs).toBeGreaterThan(1e6);
  });
});
