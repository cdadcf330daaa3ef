import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS_DIR, ROOT, ZOO } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'partita-qcli-'));
const db = join(dir, 'q.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function partita(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/partita.js'), ...args], { encoding: 'utf8', env: { ...process.env, PARTITA_DB: db }, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  expect(partita('import', ZOO[0].file).code).toBe(0);
  expect(partita('datasets', 'add', 'fashion-mnist').code).toBe(0);
  expect(partita('datasets', 'add', 'tiny', '--images', join(CORPUS_DIR, 'tiny8x8-images.idx.gz'), '--labels', join(CORPUS_DIR, 'tiny8x8-labels.idx.gz')).code).toBe(0);
});

describe('partita quantize / sensitivity', () => {
  it('writes a quantized model, with ORT and AIMET exports', () => {
    const out = join(dir, 'q.onnx');
    const r = partita('--json', 'quantize', 'fmnist-cnn', '--bits', 'conv1=4,default=8', '--act-bits', '8', '--calib', 'fashion-mnist-train', '--calib-samples', '200', '--out', out, '--export-ort', join(dir, 'o.json'), '--export-aimet', join(dir, 'a.json'));
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.config.weights.layers).toEqual({ '/conv1/Conv': 4 });
    expect(j.config.activations.calibration).toEqual({ dataset: 'fashion-mnist-train', samples: 200 });
    expect(j.packedWeightBytes).toBeLessThan(j.fp32WeightBytes / 3);
    for (const f of [out, join(dir, 'o.json'), join(dir, 'a.json')]) expect(existsSync(f)).toBe(true);
  });

  it('fidelity of a quantized copy to FP32, without labels: agreement falls as bits fall, the same model agrees fully', () => {
    const at = (bits: number) => {
      const out = join(dir, `f${bits}.onnx`);
      expect(partita('quantize', 'fmnist-cnn', '--bits', String(bits), '--out', out).code).toBe(0);
      const r = partita('--json', 'fidelity', 'fmnist-cnn', '--quantized', out, '--dataset', 'fashion-mnist-test', '--samples', '500');
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { agreement: number; klNats: number; sqnrDb: number };
    };
    const same = partita('--json', 'fidelity', 'fmnist-cnn', '--quantized', ZOO[0].file, '--dataset', 'fashion-mnist-test', '--samples', '100');
    expect(JSON.parse(same.stdout)).toMatchObject({ agreement: 1, klNats: 0 });
    const b8 = at(8);
    const b2 = at(2);
    expect(b8.agreement).toBeGreaterThan(b2.agreement);
    expect(b8.sqnrDb).toBeGreaterThan(b2.sqnrDb + 6);
    const missing = partita('fidelity', 'fmnist-cnn', '--quantized', join(dir, 'nope.onnx'), '--dataset', 'fashion-mnist-test');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.onnx.*\[model-file-missing\]/);
  });

  it('bad input: a clear error, exit 1, and no file written', () => {
    const cases: [string[], string][] = [
      [['--bits', 'default=7'], 'quant-bits-unsupported'],
      [['--bits', 'nosuchlayer=4'], 'quant-layer-unknown'],
      [['--act-bits', '8'], 'quant-not-calibrated'],
      [['--act-bits', '8', '--calib', 'tiny'], 'dataset-shape-mismatch'],
      [['--format', 'qdq', '--bits', 'default=4', '--calib', 'fashion-mnist-train', '--calib-samples', '50'], 'quant-not-deployable'],
    ];
    for (const [args, code] of cases) {
      const out = join(dir, `bad-${code}.onnx`);
      const r = partita('quantize', 'fmnist-cnn', ...args, '--out', out);
      expect(r.code, `${code}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toContain(`[${code}]`);
      expect(existsSync(out)).toBe(false);
    }
    const empty = partita('datasets', 'add', 'nothing', '--images', join(CORPUS_DIR, 'empty-images.idx.gz'));
    expect(empty.stderr).toContain('[dataset-empty]');
    const noLayers = partita('import', join(CORPUS_DIR, 'good-add.onnx'), '--name', 'adder');
    expect(noLayers.code).toBe(0);
    expect(partita('quantize', 'adder', '--out', join(dir, 'x.onnx')).stderr).toContain('[quant-no-layers]');
  });

  it('sensitivity: a layer x bits table, cached on the second call', () => {
    const args = ['--json', 'sensitivity', 'fmnist-cnn', '--dataset', 'fashion-mnist-train', '--samples', '100', '--bits', '8,4,2'];
    const r = partita(...args);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.sensitivity.layers.length).toBe(5);
    expect(j.sensitivity.drop[0].length).toBe(3);
    expect(j.noise.kappa.every((k: number) => k >= 0)).toBe(true);
    expect(JSON.parse(partita(...args).stdout).cached).toEqual({ sensitivity: true, noise: true });
  });
});
