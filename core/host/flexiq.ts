/**
 * A FlexiQ run on a stored model: calibrate per-channel ranges on a held-out split, rank channels, optionally refine
 * the ranking, write one mixed 4/8-bit model per ratio, load them all into a switching runtime, and measure top-1 on
 * a held-out set, latency (batch 1 and 64) and the cost of switching ratios, next to FP32 / 8-bit-only / 4-bit-only
 * references measured in the same run.
 */
import { loadIdxDataset, type LabelledImages } from '../accuracy/idxDataset.js';
import { evaluateTop1, inputDimsFor, top1OfLogits, type Top1Result } from '../accuracy/top1.js';
import { CoreError } from '../api/errors.js';
import { encodeModel } from '../onnx/modelCodec.js';
import {
  channelRanges,
  checkRatio,
  effectiveRatios,
  FLEXIQ_DEFAULT_RATIOS,
  flexiqPlanFor,
  loweringErrorProxy,
  meanKlDivergence,
  rankChannels,
  searchRankings,
  type LoweringRounding,
} from '../quant/flexiq.js';
import { flexiqLayerQuant, flexiqLayers, writeFlexiqModel } from '../quant/flexiqWriter.js';
import { writeMatMulNBitsModel } from '../quant/matMulNBitsWriter.js';
import { defaultQuantConfig, type QuantConfig } from '../quant/quantConfig.js';
import { quantizableLayers } from '../quant/quantizableLayers.js';
import { calibrateChannelStats } from '../run/channelStats.js';
import { FlexiqRuntime, measureLatencies, measureSwitching, type SwitchTiming } from '../run/flexiqRuntime.js';
import { runLogits } from '../run/logitsRunner.js';
import { createSession, ort } from '../run/ortSession.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { loadModel, type LoadedModel } from './models.js';

export interface FlexiqOptions {
  /** Percent of 4-bit input channels per layer; default 0, 25, 50, 75, 100. */
  ratios?: number[];
  /** Calibration dataset (default 'fashion-mnist-train') and how many of its last samples to use (default 1000). */
  calib?: string;
  calibSamples?: number;
  /** Held-out evaluation dataset (default 'fashion-mnist-test') and how many of its first samples (default all). */
  evalDataset?: string;
  evalSamples?: number;
  /** Refine the rankings with the greedy swap search scored on the calibration split. */
  search?: boolean | { steps?: number; seed?: number };
  rounding?: LoweringRounding;
  /** Timed runs per model and batch size (default 50), after `warmup` (default 10). */
  latencyRuns?: number;
  warmup?: number;
  /** Timed ratio switches (default 200, after 20 warm-up switches). */
  switches?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface FlexiqRow {
  label: string;
  /** Requested ratio (percent of 4-bit channels) for FlexiQ rows, null for references. */
  ratio: number | null;
  /** Share of the Gemm/MatMul multiply-accumulates that run at 4 bit after snapping to 16-channel blocks (percent). */
  effectiveRatio: number | null;
  layers: { name: string; k: number; lowCount: number; effectiveRatio: number }[];
  top1: number;
  correct: number;
  count: number;
  latencyMsBatch1: number;
  latencyMsBatch64: number;
  modelBytes: number;
}

export interface FlexiqSearchReport {
  steps: number;
  tried: number;
  accepted: number;
  /** Mean KL(FP32 || FlexiQ) over the mixed ratios on the calibration split, before and after. */
  calibScoreBefore: number;
  calibScoreAfter: number;
  /** Held-out top-1 of each mixed ratio with the plain range ranking and with the searched one. */
  heldOut: { ratio: number; top1Before: number; top1After: number; channelsMoved: number }[];
}

export interface FlexiqRunResult {
  model: string;
  rows: FlexiqRow[];
  references: FlexiqRow[];
  switching: SwitchTiming;
  search: FlexiqSearchReport | null;
  /** Per layer: how many input channels have s = 0..4 unused high bits on the 8-bit grid. */
  unusedBits: { layer: string; histogram: number[] }[];
  calibration: { dataset: string; offset: number; samples: number };
  evaluation: { dataset: string; offset: number; samples: number };
  settings: { threads: 1; optimization: 'all'; runs: number; warmup: number; rounding: LoweringRounding; accuracyLevel: 4 };
}

function checkCount(v: number | undefined, what: string, flag: string): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 1)) {
    throw new CoreError('flexiq-settings-invalid', `${what} ${String(v)} is not a positive whole number. Give ${flag} as 1 or more.`);
  }
}

/** Runs FlexiQ on a stored model (see the module comment). Reads the store; writes nothing to it. */
export async function runFlexiq(store: SqliteStore, modelRef: string | number, o: FlexiqOptions = {}): Promise<FlexiqRunResult> {
  const ratios = [...new Set((o.ratios ?? FLEXIQ_DEFAULT_RATIOS).map(checkRatio))].sort((a, b) => a - b);
  if (ratios.length === 0) throw new CoreError('flexiq-ratio-invalid', 'No FlexiQ ratio was given. Give at least one, e.g. 0,50,100.');
  checkCount(o.calibSamples, 'Calibration sample count', 'calibSamples');
  checkCount(o.evalSamples, 'Evaluation sample count', 'evalSamples');
  checkCount(o.latencyRuns, 'Latency run count', 'latencyRuns');
  checkCount(o.switches, 'Switch count', 'switches');
  const rounding = o.rounding ?? 'nearest';
  const m = loadModel(store, modelRef);
  const layers = flexiqLayers(m.proto, m.graph, m.row.name);
  if (m.row.inputs.length !== 1) throw new CoreError('model-input-count', `Model '${m.row.name}' takes ${m.row.inputs.length} inputs; FlexiQ runs need a single image input.`);

  const calibDs = store.requireDataset(o.calib ?? 'fashion-mnist-train');
  const evalDs = store.requireDataset(o.evalDataset ?? 'fashion-mnist-test');
  const calibSamples = Math.min(o.calibSamples ?? 1000, calibDs.count);
  const calibOffset = calibDs.count - calibSamples;
  const evalSamples = Math.min(o.evalSamples ?? evalDs.count, evalDs.count);
  const sampleDims = inputDimsFor(m.row.inputs[0].dims, calibDs.shape, m.row.name, calibDs.name);
  const evalDims = inputDimsFor(m.row.inputs[0].dims, evalDs.shape, m.row.name, evalDs.name);
  const calibData = loadIdxDataset(calibDs.imagesPath, calibDs.labelsPath);
  const evalData = loadIdxDataset(evalDs.imagesPath, evalDs.labelsPath);
  if (!evalData.labels) throw new CoreError('dataset-unlabelled', `Dataset '${evalDs.name}' has no labels, so top-1 cannot be measured. Register it with its labels file.`);
  const progress = (stage: string, done: number, total: number) => o.onProgress?.(stage, done, total);

  // 1. Per-channel activation ranges on the held-out calibration split (the last samples of the set).
  const quants = new Map(layers.map((l) => [l.name, flexiqLayerQuant(m.proto, l)]));
  const tensors = new Map(layers.map((l) => [l.activation, quants.get(l.name)!.k]));
  const cal = await calibrateChannelStats(m.proto, m.graph, m.row.name, tensors, calibData, sampleDims, {
    offset: calibOffset,
    samples: calibSamples,
    signal: o.signal,
    onProgress: (d, t) => progress('calibrate', d, t),
  });
  const rankings = new Map(layers.map((l) => [l.name, rankChannels(channelRanges(cal.stats.get(l.activation)!.absMax(), quants.get(l.name)!.rowAbsMax))]));
  const write = (r: ReadonlyMap<string, Int32Array>, ratio: number) => encodeModel(writeFlexiqModel(m.proto, m.graph, flexiqPlanFor(r, ratio, { rounding })));

  // 2. Optional refinement of the rankings, scored on the calibration split only.
  let search: FlexiqSearchReport | null = null;
  let chosen = rankings;
  const mixed = ratios.filter((r) => r > 0 && r < 100);
  if (o.search && mixed.length > 0) {
    const steps = typeof o.search === 'object' ? (o.search.steps ?? 24) : 24;
    const seed = typeof o.search === 'object' ? (o.search.seed ?? 1) : 1;
    const proxies = new Map(layers.map((l) => [l.name, loweringErrorProxy(quants.get(l.name)!, cal.stats.get(l.activation)!.meanSquare(), rounding)]));
    let done = 0;
    const score = async (r: ReadonlyMap<string, Int32Array>): Promise<number> => {
      let total = 0;
      for (const ratio of mixed) {
        const { logits } = await runLogits(write(r, ratio), m.row.name, calibData, { offset: calibOffset, count: calibSamples, sampleDims, signal: o.signal });
        total += meanKlDivergence(cal.logits, logits, cal.classes);
      }
      progress('search', ++done, steps + 1);
      return total / mixed.length;
    };
    const s = await searchRankings(rankings, proxies, score, { steps, ratios: mixed, seed });
    chosen = s.rankings;
    search = { steps, tried: s.tried, accepted: s.accepted, calibScoreBefore: s.baselineScore, calibScoreAfter: s.bestScore, heldOut: [] };
  }

  // 3. One model per ratio, all loaded up front; references measured side by side.
  const variants = ratios.map((ratio) => ({ ratio, bytes: write(chosen, ratio) }));
  const refs = referenceModels(m);
  const rt = await FlexiqRuntime.create(variants, m.row.name);
  const refSessions: ort.InferenceSession[] = [];
  try {
    for (const r of refs) refSessions.push(await createSession(r.bytes, `${m.row.name} (${r.label})`, { optimization: 'all', threads: 1 }));
    const inputName = m.row.inputs[0].name;
    const runners: ((x: ort.Tensor) => Promise<Float32Array>)[] = [
      ...ratios.map((ratio) => (x: ort.Tensor) => rt.run(x, ratio)),
      ...refSessions.map((s) => async (x: ort.Tensor) => (await s.run({ [inputName]: x }))[s.outputNames[0]].data as Float32Array),
    ];
    const top1s: Top1Result[] = [];
    for (let i = 0; i < runners.length; i++) {
      top1s.push(await evaluateTop1((x, dims) => runners[i](new ort.Tensor('float32', x, dims)), evalData, evalDims, { limit: evalSamples, batchSize: 250, signal: o.signal }));
      progress('evaluate', i + 1, runners.length);
    }
    const runs = o.latencyRuns ?? 50;
    const warmup = o.warmup ?? 10;
    const lat: number[][] = [];
    for (const batch of [1, 64]) {
      const x = imageBatch(evalData, evalDims, batch);
      lat.push(await measureLatencies(runners.map((run) => () => run(x)), { runs, warmup }));
      progress('latency', batch === 1 ? 1 : 2, 2);
    }
    const switching = await measureSwitching(rt, imageBatch(evalData, evalDims, 1), { switches: o.switches ?? 200 });
    if (search) {
      for (const ratio of mixed) {
        const before = await runLogits(write(rankings, ratio), m.row.name, evalData, { offset: 0, count: evalSamples, sampleDims: evalDims, signal: o.signal });
        const i = ratios.indexOf(ratio);
        const after = flexiqPlanFor(chosen, ratio);
        const channelsMoved = flexiqPlanFor(rankings, ratio).layers.reduce((n, l, j) => {
          const now = new Set(after.layers[j].lowChannels);
          return n + l.lowChannels.filter((c) => !now.has(c)).length;
        }, 0);
        search.heldOut.push({ ratio, top1Before: top1OfLogits(before.logits, evalData.labels, 0, before.classes), top1After: top1s[i].top1, channelsMoved });
      }
    }
    const shapes = new Map(layers.map((l) => [l.name, { k: quants.get(l.name)!.k, n: quants.get(l.name)!.n }]));
    const row = (i: number, label: string, ratio: number | null, bytes: Uint8Array): FlexiqRow => {
      const eff = ratio === null ? null : effectiveRatios(shapes, flexiqPlanFor(chosen, ratio));
      return {
        label,
        ratio,
        effectiveRatio: eff ? eff.macShare : null,
        layers: eff ? eff.layers : [],
        top1: top1s[i].top1,
        correct: top1s[i].correct,
        count: top1s[i].count,
        latencyMsBatch1: lat[0][i],
        latencyMsBatch64: lat[1][i],
        modelBytes: bytes.byteLength,
      };
    };
    return {
      model: m.row.name,
      rows: variants.map((v, i) => row(i, `FlexiQ ${v.ratio}%`, v.ratio, v.bytes)),
      references: refs.map((r, j) => row(ratios.length + j, r.label, null, r.bytes)),
      switching,
      search,
      unusedBits: layers.map((l) => {
        const h = [0, 0, 0, 0, 0];
        for (const s of quants.get(l.name)!.unusedBits) h[s]++;
        return { layer: l.name, histogram: h };
      }),
      calibration: { dataset: calibDs.name, offset: calibOffset, samples: calibSamples },
      evaluation: { dataset: evalDs.name, offset: 0, samples: evalSamples },
      settings: { threads: 1, optimization: 'all', runs, warmup, rounding, accuracyLevel: 4 },
    };
  } finally {
    await rt.release();
    for (const s of refSessions) await s.release();
  }
}

/** FP32, and the deployable 8-bit-only / 4-bit-only MatMulNBits models (block-wise grid) of the same layers. */
function referenceModels(m: LoadedModel): { label: string; bytes: Uint8Array }[] {
  const cfg = (bits: 8 | 4): QuantConfig => {
    const c = defaultQuantConfig(bits);
    c.weights.granularity = 'block';
    for (const l of quantizableLayers(m.proto, m.graph)) if (l.opType !== 'Gemm' && l.opType !== 'MatMul') c.weights.layers[l.name] = 32;
    return c;
  };
  return [
    { label: 'FP32', bytes: encodeModel(m.proto) },
    { label: '8-bit only (MatMulNBits, block)', bytes: encodeModel(writeMatMulNBitsModel(m.proto, m.graph, cfg(8))) },
    { label: '4-bit only (MatMulNBits, block)', bytes: encodeModel(writeMatMulNBitsModel(m.proto, m.graph, cfg(4))) },
  ];
}

/** The first `batch` images of a set as a float tensor (pixels / 255), cycling if the set is smaller. */
function imageBatch(data: LabelledImages, sampleDims: number[], batch: number): ort.Tensor {
  const per = data.sampleShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(batch * per);
  for (let i = 0; i < batch; i++) {
    const src = data.pixels.subarray((i % data.count) * per, ((i % data.count) + 1) * per);
    for (let j = 0; j < per; j++) x[i * per + j] = src[j] / 255;
  }
  return new ort.Tensor('float32', x, [batch, ...sampleDims]);
}
