import { readFileSync } from 'node:fs';
import { CoreError, isCoreError } from '../api/errors.js';
import { PlanFileSchema } from '../api/planFile.js';
import type { Plan } from '../api/planning.js';
import { loadIdxDataset, type LabelledImages } from '../accuracy/idxDataset.js';
import { inputDimsFor } from '../accuracy/top1.js';
import { evaluatePlan } from '../plan/planCost.js';
import { buildProblem } from '../plan/problemBuilder.js';
import type { AgentHub, AgentRunReport } from './agentHub.js';
import { argmax, runPlanLocally, type Feeds, type LocalRunReport } from '../run/localRun.js';
import type { PartitionFormat } from '../run/partitionBuilder.js';
import { findPlan, savePlanRun, type PlanRunRequestRow, type PlanRunRow } from '../store/planStore.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { uniformFloats } from '../util/random.js';
import { quantile } from '../util/stats.js';
import { preparePartitions } from './planPartitions.js';
import { modelFacts, resolveDevice, resolveLink, resolveServer } from './planning.js';

/**
 * `partita run`: a stored or exported plan run for real — head and tail built as planned, requests sent through
 * the head (on this machine's device worker, or on an attached agent), the cut tensors over an emulated link, the
 * tail on this machine — and the run stored beside what the planner predicted for it.
 *
 * The prediction is the plan re-evaluated with the cost model (planCost.ts) on the run's device, link and server
 * profiles, with the head cached: a run downloads the head once before its first request, and per-request
 * latency is what the planner's `latencyMs` means when `headCached` holds. The download is predicted and measured
 * separately.
 */

export type PlanShape = Pick<Plan, 'cut' | 'bits' | 'activationBits'>;

export interface PlanRef {
  plan: PlanShape;
  /** What the plan was chosen for (device, link, server), when known. */
  request: { device?: string; link?: string; server?: string } | null;
  planId: number | null;
  /** Where the plan came from, for messages. */
  origin: string;
}

/** A plan by stored id (`partita plan` prints it) or from a plan.json file (`partita export`). */
export function loadPlanRef(store: SqliteStore, modelRef: string, ref: string): PlanRef {
  const model = store.requireModel(modelRef);
  if (/^\d+$/.test(ref)) {
    const p = findPlan(store, Number(ref));
    if (!p) throw new CoreError('plan-unknown', `No stored plan with id ${ref}. \`partita plan ${model.name} …\` stores one and prints its id; or pass a plan.json file.`);
    if (p.modelId !== model.id) {
      const other = store.findModel(p.modelId)?.name ?? `model #${p.modelId}`;
      throw new CoreError('plan-model-mismatch', `Plan ${ref} was made for '${other}', not '${model.name}'. Run it with that model, or plan '${model.name}'.`);
    }
    return { plan: { cut: p.plan.cut, bits: p.plan.bits, activationBits: p.plan.activationBits }, request: (p.request as PlanRef['request']) ?? null, planId: p.id, origin: `plan ${p.id}` };
  }
  let text: string;
  try {
    text = readFileSync(ref, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'unreadable';
    throw new CoreError('plan-file-invalid', `Cannot read plan file '${ref}' (${why}). Pass a stored plan id or a plan.json written by \`partita export\`.`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // JSON.parse quotes the text it choked on; the file may not be ours to show (the path can come from the page).
    throw new CoreError('plan-file-invalid', `Plan file '${ref}' is not JSON. Pass a stored plan id or a plan.json written by \`partita export\`.`);
  }
  const parsed = PlanFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CoreError('plan-file-invalid', `'${ref}' is not a Partita plan file: ${issue.path.join('.') || '(top level)'}: ${issue.message}. Pass a plan.json written by \`partita export\`.`);
  }
  const f = parsed.data;
  if (f.model.sha256 !== model.sha256) {
    throw new CoreError('plan-model-mismatch', `'${ref}' was made for model '${f.model.name}' (sha256 ${f.model.sha256.slice(0, 12)}…), not the stored '${model.name}' (${model.sha256.slice(0, 12)}…). Import that model, or export a plan for this one.`);
  }
  return { plan: { cut: f.cut, bits: f.deviceLayers.map((l) => l.bits), activationBits: f.activationBits }, request: f.request, planId: null, origin: `'${ref}'` };
}

/** What the planner predicts for one request of this plan on these profiles (head cached), plus the download. */
export interface RunPrediction {
  latencyMs: number;
  breakdownMs: Plan['breakdownMs'];
  downloadMs: number;
  headWeightBytes: number;
  uplinkBytes: number;
}

export async function predictRun(store: SqliteStore, modelRef: string, plan: PlanShape, names: { device: string; link: string; server: string }, inputShape?: Record<string, number[]>): Promise<RunPrediction> {
  const facts = await modelFacts(store, modelRef, inputShape);
  const link = resolveLink(store, names.link);
  // Degradation plays no part in a latency prediction: every width is offered at no cost, so any plan evaluates.
  const problem = buildProblem(facts, resolveDevice(store, names.device), link, resolveServer(names.server, store), { name: 'none', weight: () => 0, activation: () => 0 }, {
    objective: { latency: 1, energy: 0, cost: 0 },
    constraints: { maxDegradation: 1, enforceMemory: false, headCached: true },
    weightBits: [16, 8, 6, 5, 4, 3, 2],
    activationBits: [16, 8, 6, 5, 4, 3, 2],
  });
  const p = evaluatePlan(problem, plan.cut, plan.bits, plan.activationBits);
  const goodput = 1 - link.loss;
  return {
    latencyMs: p.latencyMs,
    breakdownMs: p.breakdownMs,
    downloadMs: plan.cut === 0 ? 0 : ((p.headWeightBytes * 8) / (link.downlinkBps * goodput)) * 1000,
    headWeightBytes: p.headWeightBytes,
    uplinkBytes: p.uplinkBytes,
  };
}

export interface RunPlanOptions {
  model: string;
  /** Stored plan id or plan.json path. */
  plan: string;
  /** Override the plan's device / link / server (the link is what is emulated). */
  device?: string;
  link?: string;
  server?: string;
  requests?: number;
  /** Labelled dataset: requests are its samples from `offset`, and top-1 is measured. Otherwise seeded random inputs. */
  eval?: string;
  offset?: number;
  /** Dataset for activation ranges, when the plan quantizes activations (its last samples). */
  calib?: string;
  format?: PartitionFormat;
  pipelined?: boolean;
  maxInFlight?: number;
  deviceThreads?: number;
  serverThreads?: number;
  inputShape?: Record<string, number[]>;
  /** Run the head on this attached agent instead of a local device worker. */
  agent?: { hub: AgentHub; name: string };
  /** The failed run this one retries. */
  retryOf?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface StageTimes {
  deviceMs: number;
  uplinkMs: number;
  serverMs: number;
  downlinkMs: number;
  latencyMs: number;
}

export interface PlanRunResult {
  run: PlanRunRow;
  predicted: RunPrediction | null;
  /** Why there is no prediction (e.g. a device with no profile). */
  predictionError: string | null;
  measured: {
    median: StageTimes;
    p90: StageTimes;
    throughputRps: number;
    requestsMs: number;
    download: { bytes: number; ms: number } | null;
    bytes: { headFile: number; headWeights: number; uplinkPerRequest: number; uplinkPayloadPerRequest: number; downlinkPerRequest: number };
  };
  /** (measured median - predicted) / measured median, per stage; null without a prediction. */
  relativeError: StageTimes | null;
  top1: number | null;
}

const STAGES = ['deviceMs', 'uplinkMs', 'serverMs', 'downlinkMs', 'latencyMs'] as const;

function seededFeeds(name: string, dims: number[], count: number): Iterable<Feeds> {
  const n = dims.reduce((a, b) => a * b, 1);
  return {
    *[Symbol.iterator]() {
      for (let i = 0; i < count; i++) yield { [name]: { dims, dtype: 'float32', data: uniformFloats(n, 1000 + i, 1) } } as Feeds;
    },
  };
}

function datasetFeeds(name: string, data: LabelledImages, offset: number, sampleDims: number[], count: number): Iterable<Feeds> {
  const per = data.sampleShape.reduce((a, b) => a * b, 1);
  return {
    *[Symbol.iterator]() {
      for (let i = 0; i < count; i++) {
        const src = data.pixels.subarray((offset + i) * per, (offset + i + 1) * per);
        yield { [name]: { dims: [1, ...sampleDims], dtype: 'float32', data: Float32Array.from(src, (v) => v / 255) } } as Feeds;
      }
    },
  };
}


/** Runs a plan (locally or on an agent), stores the run (ok or failed, one transaction) and compares it to the prediction. */
export async function runPlan(store: SqliteStore, o: RunPlanOptions): Promise<PlanRunResult> {
  const ref = loadPlanRef(store, o.model, o.plan);
  const names = {
    device: o.device ?? ref.request?.device,
    link: o.link ?? ref.request?.link,
    server: o.server ?? ref.request?.server ?? 'a100',
  };
  if (!names.device || !names.link) {
    throw new CoreError('run-profiles-missing', `${ref.origin} does not say which device and link it was planned for. Pass --device and --link.`);
  }
  const link = resolveLink(store, names.link);
  const requests = o.requests ?? 100;
  if (!Number.isInteger(requests) || requests < 1) throw new CoreError('run-invalid', `A run needs at least one request; got ${requests}.`);

  let predicted: RunPrediction | null = null;
  let predictionError: string | null = null;
  try {
    predicted = await predictRun(store, o.model, ref.plan, { device: names.device, link: names.link, server: names.server }, o.inputShape);
  } catch (e) {
    if (!isCoreError(e)) throw e;
    predictionError = (e as CoreError).message;
  }

  o.onProgress?.('build', 0, 1);
  const { m, parts, sampleDims } = await preparePartitions(store, o.model, ref.plan, { format: o.format, calib: o.calib, inputShape: o.inputShape });
  o.onProgress?.('build', 1, 1);
  const inputName = m.graph.inputs[0];

  let labels: Uint8Array | null = null;
  let offset = 0;
  let data: LabelledImages | null = null;
  let runSampleDims = sampleDims;
  if (o.eval) {
    const ds = store.requireDataset(o.eval);
    data = loadIdxDataset(ds.imagesPath, ds.labelsPath);
    runSampleDims = inputDimsFor(m.row.inputs[0].dims, ds.shape, m.row.name, ds.name);
    offset = o.offset ?? 0;
    if (offset + requests > data.count) {
      throw new CoreError('run-invalid', `Requests ${offset}..${offset + requests} do not fit the ${data.count} samples of '${ds.name}'. Use fewer requests or a smaller --offset.`);
    }
    labels = data.labels;
  }
  const feeds = () => (data ? datasetFeeds(inputName, data, offset, runSampleDims, requests) : seededFeeds(inputName, [1, ...sampleDims], requests));
  const emulated = { uplinkBps: link.uplinkBps * (1 - link.loss), downlinkBps: link.downlinkBps * (1 - link.loss), rttMs: link.rttMs };
  const progress = (done: number, total: number) => o.onProgress?.('requests', done, total);

  const base = {
    planId: ref.planId,
    modelId: m.row.id,
    target: (o.agent ? 'agent' : 'local') as PlanRunRow['target'],
    agentName: o.agent?.name ?? null,
    device: names.device,
    link: names.link,
    server: names.server,
    plan: { cut: ref.plan.cut, bits: [...ref.plan.bits], activationBits: ref.plan.activationBits },
    retryOf: o.retryOf ?? null,
    requests,
    pipelined: !!o.pipelined,
    predicted: predicted as Record<string, unknown> | null,
  };

  let report: LocalRunReport | AgentRunReport;
  let perRequest: PlanRunRequestRow[];
  try {
    if (o.agent) {
      const r = await o.agent.hub.runOnAgent(o.agent.name, { ...parts, headOutputs: parts.headOutputs }, {
        requests,
        inputs: feeds(),
        link: emulated,
        maxInFlight: o.pipelined ? (o.maxInFlight ?? 16) : 1,
        deviceThreads: o.deviceThreads,
        serverThreads: o.serverThreads,
        keepOutputs: labels !== null,
        onProgress: progress,
        signal: o.signal,
      });
      report = r;
      perRequest = r.perRequest.map((t, i) => {
        const predictedClass = r.outputs?.[i]?.[0] ? argmax(r.outputs[i][0]) : null;
        return { index: i, deviceMs: t.deviceMs, uplinkMs: t.uplinkMs, serverMs: t.serverMs, downlinkMs: t.downlinkMs, latencyMs: t.latencyMs, uplinkBytes: t.uplinkBytes, label: labels ? labels[offset + i] : null, predicted: predictedClass };
      });
      // Outputs were only kept to score them.
      delete r.outputs;
    } else {
      const r = await runPlanLocally(parts, emulated, {
        requests,
        inputs: data ? { data, offset, sampleDims: runSampleDims, inputName } : feeds(),
        pipelined: o.pipelined,
        maxInFlight: o.maxInFlight,
        includeDownload: true,
        deviceThreads: o.deviceThreads,
        serverThreads: o.serverThreads,
        onProgress: progress,
        signal: o.signal,
      });
      report = r;
      perRequest = r.perRequest.map((t, i) => ({
        index: i,
        deviceMs: t.deviceMs,
        uplinkMs: t.uplinkMs,
        serverMs: t.serverMs,
        downlinkMs: t.downlinkMs,
        latencyMs: t.latencyMs,
        uplinkBytes: t.uplinkBytes,
        label: t.label ?? null,
        predicted: t.predictedClass ?? null,
      }));
    }
  } catch (e) {
    // A failed run is stored with its reason (and can be retried with --retry ID); nothing else is written.
    const err = isCoreError(e) ? (e as CoreError) : null;
    savePlanRun(store, { ...base, status: 'failed', errorCode: err?.code ?? 'run-failed', errorMessage: err?.message ?? String((e as Error)?.message ?? e), measured: null, top1: null }, []);
    throw e;
  }

  const col = (k: (typeof STAGES)[number], q: number) => quantile(perRequest.map((t) => t[k]), q);
  const stageAt = (q: number): StageTimes => Object.fromEntries(STAGES.map((k) => [k, col(k, q)])) as unknown as StageTimes;
  const scored = perRequest.filter((t) => t.label !== null && t.predicted !== null);
  const top1 = scored.length ? scored.filter((t) => t.label === t.predicted).length / scored.length : null;
  // An agent run reports the head's upload in bytes only (its time is folded into the socket), so no download time.
  const download = 'download' in report ? report.download : null;
  const measured: PlanRunResult['measured'] = {
    median: stageAt(0.5),
    p90: stageAt(0.9),
    throughputRps: report.throughputRps,
    requestsMs: report.requestsMs,
    download,
    bytes: {
      headFile: parts.headBytes?.length ?? 0,
      headWeights: parts.headWeightBytes,
      uplinkPerRequest: report.bytes.uplinkPerRequest,
      uplinkPayloadPerRequest: 'uplinkPayloadPerRequest' in report.bytes ? report.bytes.uplinkPayloadPerRequest : (parts.uplinkPayloadBytes ?? 0),
      downlinkPerRequest: 'downlinkPerRequest' in report.bytes ? report.bytes.downlinkPerRequest : 0,
    },
  };
  let relativeError: StageTimes | null = null;
  if (predicted) {
    const p: StageTimes = { deviceMs: predicted.breakdownMs.device, uplinkMs: predicted.breakdownMs.uplink, serverMs: predicted.breakdownMs.server, downlinkMs: predicted.breakdownMs.result, latencyMs: predicted.latencyMs };
    relativeError = Object.fromEntries(STAGES.map((k) => [k, measured.median[k] > 0 ? (measured.median[k] - p[k]) / measured.median[k] : 0])) as unknown as StageTimes;
  }
  const run = savePlanRun(store, { ...base, status: 'ok', errorCode: null, errorMessage: null, measured: { ...measured, relativeError }, top1 }, perRequest);
  return { run, predicted, predictionError, measured, relativeError, top1 };
}
