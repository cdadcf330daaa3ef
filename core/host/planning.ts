import { CoreError } from '../api/errors.js';
import type { Constraints, Objective, PlanningProblem } from '../api/planning.js';
import type { NoiseModel, SensitivityTable } from '../accuracy/degradation.js';
import type { LinkSensitivity } from '../run/linkSensitivity.js';
import { cutSets } from '../onnx/cutSets.js';
import { checkDevice, checkLink, DEVICE_PRESETS, LINK_PRESETS, SERVER_PRESETS, serverFromDevice, type DeviceProfile, type LinkProfile, type ServerProfile } from '../plan/devices.js';
import type { LatencyPredictor } from '../plan/latencyPredictor.js';
import { buildProblem, type DegradationSource, type ModelFacts } from '../plan/problemBuilder.js';
import { quantizableLayers } from '../quant/quantizableLayers.js';
import { compareToBaselines, computeBaselines, type BaselineComparison, type Baselines } from '../plan/baselines.js';
import { solve, type SolveResult } from '../plan/solver.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { opFamily } from './latencySamples.js';
import { loadModel } from './models.js';
import { profileModel } from './profiling.js';

/** Puts the device and link presets into the store (idempotent), so they are listed and referenced like any other. */
export function seedPresets(store: SqliteStore): void {
  store.transaction(() => {
    for (const d of DEVICE_PRESETS) if (!store.findDevice(d.name)) store.saveDevice({ name: d.name, kind: 'preset', source: d.source, profile: d });
    const links = new Set(store.listLinks().map((l) => l.name));
    for (const l of LINK_PRESETS) if (!links.has(l.name)) store.saveLink(l);
  });
}

export function resolveDevice(store: SqliteStore, name: string): DeviceProfile {
  const d = store.findDevice(name)?.profile as DeviceProfile | undefined;
  const found = d ?? DEVICE_PRESETS.find((x) => x.name === name);
  if (!found) {
    const names = [...new Set([...store.listDevices().map((x) => x.name), ...DEVICE_PRESETS.map((x) => x.name)])];
    throw new CoreError('device-unknown', `No device '${name}'. Known devices: ${names.join(', ')}. Add one with \`partita devices add\` or \`partita devices bench\`.`);
  }
  return checkDevice(found);
}

export function resolveLink(store: SqliteStore, name: string): LinkProfile {
  const l = store.listLinks().find((x) => x.name === name) ?? LINK_PRESETS.find((x) => x.name === name);
  if (!l) {
    const names = [...new Set([...store.listLinks().map((x) => x.name), ...LINK_PRESETS.map((x) => x.name)])];
    throw new CoreError('link-unknown', `No link '${name}'. Known links: ${names.join(', ')}. Add one with \`partita links add\`.`);
  }
  return checkLink(l);
}

/** A server preset, or a device profile in the store (a measured machine serving the tails, e.g. this host). */
export function resolveServer(name: string, store?: SqliteStore): ServerProfile {
  const s = SERVER_PRESETS.find((x) => x.name === name);
  if (s) return s;
  const d = store?.findDevice(name)?.profile as DeviceProfile | undefined;
  if (d) return serverFromDevice(checkDevice(d));
  const devices = store ? store.listDevices().map((x) => x.name) : [];
  throw new CoreError(
    'server-unknown',
    `No server '${name}'. Known servers: ${SERVER_PRESETS.map((x) => x.name).join(', ')}${devices.length ? `, or any device: ${devices.join(', ')}` : ''}. Measure this host with \`partita devices bench\` to use it as the server.`,
  );
}

/** The facts the planner needs, from the graph and a (cached) static profile at the given input shape. */
export async function modelFacts(store: SqliteStore, ref: string, inputShape?: Record<string, number[]>): Promise<ModelFacts> {
  const m = loadModel(store, ref);
  const prof = (await profileModel(store, m.row.id, { inputShape })).static;
  const shapes = new Map(prof.tensors.map((t) => [t.name, t]));
  const L = m.graph.layers.length;
  const quant = new Map(quantizableLayers(m.proto, m.graph).map((q) => [q.name, q]));
  const elems = (name: string) => shapes.get(name)?.dims.reduce((a, b) => a * b, 1) ?? 0;
  const layers = prof.layers.map((l) => {
    const g = m.graph.layers[l.position - 1];
    const inBytes = g.inputs.filter((x) => x && !g.weightInputs.includes(x)).reduce((a, x) => a + (shapes.get(x)?.bytes ?? 0), 0);
    const q = quant.get(l.name);
    return {
      position: l.position,
      name: l.name,
      opType: l.opType,
      family: opFamily(l.opType, g.weightInputs[0] ? (m.graph.weights.get(g.weightInputs[0])?.dims ?? null) : null),
      macs: l.macs ?? 0,
      bytes: inBytes + (l.outBytes ?? 0) + (l.weightBytes ?? 0),
      outElements: l.outElements ?? 0,
      weightBytes: l.weightBytes ?? 0,
      quantizable: q ? { weightElements: q.weightElements, channels: q.weightDims[q.channelAxis] } : undefined,
    };
  });
  const tensors = [...m.graph.tensors.values()]
    .filter((t) => t.kind !== 'weight' && t.producer !== null)
    .map((t) => ({
      name: t.name,
      elements: elems(t.name),
      bytes: shapes.get(t.name)?.bytes ?? 0,
      producer: t.producer!,
      lastUse: t.isGraphOutput ? L + 1 : Math.max(t.producer!, ...t.consumers),
    }));
  const sum = (names: string[]) => names.reduce((a, n) => a + (shapes.get(n)?.bytes ?? 0), 0);
  return {
    name: m.row.name,
    sha256: m.row.sha256,
    layers,
    tensors,
    cutSets: cutSets(m.graph),
    inputBytes: sum(m.graph.inputs),
    resultBytes: sum(m.graph.outputs),
    modelWeightBytes: m.row.weightBytes,
  };
}

export type EstimatorName = 'sensitivity' | 'noise' | 'none';

/** The newest stored estimator of that kind for the model, as a degradation source for the problem builder. */
export function degradationSource(store: SqliteStore, modelRef: string, estimator: EstimatorName): { source: DegradationSource; weightBits: number[]; activationBits?: number[] } {
  if (estimator === 'none') {
    // Without an estimator only lossless precisions can be offered: the planner then only chooses the cut.
    return { source: { name: 'none', weight: () => 0 }, weightBits: [32, 16] };
  }
  const m = store.requireModel(modelRef);
  const run = store.newestEstimatorRun(m.id, estimator);
  if (!run) {
    throw new CoreError(
      'plan-no-estimator',
      `Model '${m.name}' has no ${estimator} measurements yet. Run \`partita sensitivity ${m.name} --dataset DATASET\` first, or plan with --estimator none (cut only, no quantization).`,
    );
  }
  const table = (estimator === 'sensitivity' ? run.result : null) as SensitivityTable | null;
  // The link's cost per cut and width comes from the newest sensitivity run that measured it (either estimator).
  const link = store
    .listEstimatorRuns(m.id)
    .filter((r) => r.kind === 'sensitivity' && (r.result as { link?: LinkSensitivity }).link)
    .map((r) => (r.result as { link: LinkSensitivity }).link)
    .pop();
  const noise = (estimator === 'noise' ? run.result : null) as NoiseModel | null;
  const t = (table ?? noise)!;
  const weight = (layer: string, bits: number): number => {
    const i = t.layers.indexOf(layer);
    const j = t.bits.indexOf(bits);
    if (i < 0 || j < 0) throw new Error(`estimator has no entry for ${layer} at ${bits} bits`);
    // A measured drop below zero is sampling noise on the calibration slice, not a gain to spend elsewhere: summed
    // over many layers, such "gains" let a plan quantize far more than its budget allows.
    return Math.max(0, table ? table.drop[i][j] : noise!.dropPerNoise * noise!.kappa[i] * noise!.sigma2[i][j]);
  };
  if (!link) return { source: { name: estimator, weight }, weightBits: [32, 16, ...t.bits] };
  const activation = (cut: number, bits: number): number | undefined => {
    const j = link.bits.indexOf(bits);
    const d = j < 0 ? undefined : link.drop[cut]?.[j];
    return d === undefined ? undefined : Math.max(0, d);
  };
  return { source: { name: estimator, weight, activation }, weightBits: [32, 16, ...t.bits], activationBits: [16, ...link.bits] };
}

export interface PlanRequest {
  model: string;
  device: string;
  link: string;
  server?: string;
  estimator?: EstimatorName;
  objective: Objective;
  constraints: Constraints;
  inputShape?: Record<string, number[]>;
  predictor?: LatencyPredictor;
}

export async function buildPlanningProblem(store: SqliteStore, r: PlanRequest): Promise<PlanningProblem> {
  const device = resolveDevice(store, r.device);
  const link = resolveLink(store, r.link);
  const server = resolveServer(r.server ?? 'a100', store);
  const { source, weightBits, activationBits } = degradationSource(store, r.model, r.estimator ?? 'sensitivity');
  const facts = await modelFacts(store, r.model, r.inputShape);
  return buildProblem(facts, device, link, server, source, { objective: r.objective, constraints: r.constraints, weightBits, activationBits, predictor: r.predictor });
}

/** `latency` | `energy` | `cost` | `weighted:a,b,c` → objective weights. */
export function parseObjective(v: string): Objective {
  if (v === 'latency') return { latency: 1, energy: 0, cost: 0 };
  if (v === 'energy') return { latency: 0, energy: 1, cost: 0 };
  if (v === 'cost') return { latency: 0, energy: 0, cost: 1 };
  const m = /^weighted:([^,]+),([^,]+),([^,]+)$/.exec(v);
  const w = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
  if (!m || w.some((x) => !(x >= 0)) || w[0] + w[1] + w[2] <= 0) {
    throw new CoreError('plan-objective-invalid', `Objective '${v}' is not understood. Use latency, energy, cost, or weighted:A,B,C with non-negative weights (per ms, per J, per $), not all zero.`);
  }
  return { latency: w[0], energy: w[1], cost: w[2] };
}

/** '1%' → 0.01; '0.01' → 0.01. Budgets outside [0, 100] % are refused. */
export function parseBudget(v: string): number {
  const pct = v.trim().endsWith('%');
  const n = Number(pct ? v.trim().slice(0, -1) : v);
  const f = pct ? n / 100 : n;
  if (!Number.isFinite(n) || !(f >= 0 && f <= 1)) {
    throw new CoreError('plan-budget-invalid', `Accuracy budget '${v}' is outside [0, 100] %. Give e.g. --max-drop 1% or --max-drop 0.01.`);
  }
  return f;
}

export interface PlanOutcome {
  problem: PlanningProblem;
  result: SolveResult;
  baselines: Baselines;
  comparison: BaselineComparison[];
}

/** Solves a problem and puts the chosen plan next to every baseline computed on the same problem. */
export function solveWithBaselines(problem: PlanningProblem): PlanOutcome {
  const result = solve(problem);
  const baselines = computeBaselines(problem);
  const comparison = result.status === 'optimal' ? compareToBaselines(result.plan, baselines) : [];
  return { problem, result, baselines, comparison };
}
