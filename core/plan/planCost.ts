/**
 * The cost model of one plan: the single implementation of QPART's request model (shared/SCIENCE.md, "The model
 * of a request"). The solver, the brute force in the tests, the baselines and the Pareto front all evaluate plans
 * here, so a number means the same everywhere.
 *
 * For cut c in 0..L (layers 1..c on the device), weight precision q_l for each head layer l <= c and activation
 * precision a for the tensors crossing the cut (all times in ms, sizes in bytes, bandwidths in bit/s):
 *
 *   T_down   = headCached ? 0 : (sum_{l<=c} weightBytes(l, q_l)) * 8 / downlinkBps * 1000      (0 when c = 0)
 *   T_dev    = sum_{l<=c} deviceTimeMs(l, q_l)
 *   T_up     = rttMs/2 + bytes(c, a) * 8 / uplinkBps * 1000          if c < L, else 0
 *   T_result = rttMs/2 + resultBytes * 8 / downlinkBps * 1000        if c < L, else 0
 *   T_srv    = sum_{l>c} serverTimeMs(l)
 *   latencyMs = T_down + T_dev + T_up + T_srv + T_result
 *   energyJ   = sum_{l<=c} deviceEnergyJ(l, q_l) + (powerTxW*T_up + powerRxW*(T_down + T_result) + powerIdleW*T_srv)/1000
 *   costUsd   = pricePerSecondUsd * T_srv / 1000
 *   degradation = sum_{l<=c} degradation(l, q_l) + (c < L ? degradation(c, a) : 0)
 *   objective = w.latency*latencyMs + w.energy*energyJ + w.cost*costUsd
 *
 * SCIENCE.md writes the compute energy as P_compute * T_dev; the problem carries it per layer and option
 * (deviceEnergyJ, "usually P_compute x time"), and that per-option value is what is summed here.
 *
 * Constraints (see `standardConstraints`): degradation <= maxDegradation (+1e-12), latencyMs <= sloMs (+1e-12
 * relative, so a plan whose latency equals the SLO is not rejected by the order of a floating-point sum), and
 * headWeightBytes + peakActivationBytes(c) <= device.memoryBytes when enforceMemory.
 *
 * Payloads (SCIENCE.md, "Payload"): computation = sum_{l<=c} macs_l * q_l / (sum_l macs_l * 32); communication =
 * (download bytes (0 if cached) + uplink bytes) / (inputBytes + modelWeightBytes). A zero denominator gives 0.
 */
import { CoreError } from '../api/errors.js';
import type { CutOption, LayerOption, Plan, PlanningProblem } from '../api/planning.js';

/** Absolute slack on the degradation budget (the summed per-layer drops are floating-point sums). */
export const DEGRADATION_TOLERANCE = 1e-12;
/** Relative slack on the latency SLO. */
export const LATENCY_RELATIVE_TOLERANCE = 1e-12;

/**
 * The quantities of a plan that constraints and goals are linear in, in this fixed order:
 * [latencyMs, energyJ, costUsd, degradation, deviceMemoryBytes]. The objective is [w.latency, w.energy, w.cost, 0, 0].
 */
export const QUANTITIES = ['latencyMs', 'energyJ', 'costUsd', 'degradation', 'deviceMemoryBytes'] as const;
export const Q_LATENCY = 0;
export const Q_ENERGY = 1;
export const Q_COST = 2;
export const Q_DEGRADATION = 3;
export const Q_MEMORY = 4;
export type Quantities = [number, number, number, number, number];

export function planQuantities(plan: Plan): Quantities {
  return [plan.latencyMs, plan.energyJ, plan.costUsd, plan.degradation, plan.deviceMemoryBytes];
}

/** coef . q, summed left to right (so the objective's coefficients reproduce `plan.objective` bit for bit). */
export function linearValue(coef: ArrayLike<number>, q: ArrayLike<number>): number {
  let s = coef[0] * q[0];
  for (let j = 1; j < q.length; j++) s += coef[j] * q[j];
  return s;
}

export type ConstraintName = 'degradation' | 'latency' | 'memory';

/** coef . quantities <= cap + tol. */
export interface LinearConstraint {
  name: string;
  coef: readonly number[];
  cap: number;
  tol: number;
}

/** The objective as a linear goal over `QUANTITIES`. */
export function objectiveGoal(problem: PlanningProblem): number[] {
  const w = problem.objective;
  return [w.latency, w.energy, w.cost, 0, 0];
}

/** Unit goal on one quantity. */
export function unitGoal(index: number, scale = 1): number[] {
  const g = [0, 0, 0, 0, 0];
  g[index] = scale;
  return g;
}

export const CONSTRAINT_QUANTITY: Record<ConstraintName, number> = { degradation: Q_DEGRADATION, latency: Q_LATENCY, memory: Q_MEMORY };

/** The constraints a problem switches on, with their limits and tolerances. */
export function standardConstraints(problem: PlanningProblem): (LinearConstraint & { name: ConstraintName })[] {
  const c = problem.constraints;
  const out: (LinearConstraint & { name: ConstraintName })[] = [
    { name: 'degradation', coef: unitGoal(Q_DEGRADATION), cap: c.maxDegradation, tol: DEGRADATION_TOLERANCE },
  ];
  if (c.sloMs !== undefined) out.push({ name: 'latency', coef: unitGoal(Q_LATENCY), cap: c.sloMs, tol: c.sloMs * LATENCY_RELATIVE_TOLERANCE });
  if (c.enforceMemory) out.push({ name: 'memory', coef: unitGoal(Q_MEMORY), cap: problem.device.memoryBytes, tol: 0 });
  return out;
}

export function satisfies(q: readonly number[], con: LinearConstraint): boolean {
  return linearValue(con.coef, q) <= con.cap + con.tol;
}

export interface ConstraintCheck {
  name: ConstraintName;
  value: number;
  limit: number;
  ok: boolean;
}

/** Which of the problem's constraints a plan meets (the only feasibility test; the solver's answer is checked by it). */
export function checkConstraints(problem: PlanningProblem, plan: Plan): { ok: boolean; checks: ConstraintCheck[] } {
  const q = planQuantities(plan);
  const checks = standardConstraints(problem).map((con) => ({
    name: con.name,
    value: linearValue(con.coef, q),
    limit: con.cap,
    ok: satisfies(q, con),
  }));
  return { ok: checks.every((c) => c.ok), checks };
}

export function isFeasible(problem: PlanningProblem, plan: Plan): boolean {
  return standardConstraints(problem).every((con) => satisfies(planQuantities(plan), con));
}

export function findLayerOption(problem: PlanningProblem, layerIndex: number, bits: number): LayerOption | undefined {
  return problem.layers[layerIndex].options.find((o) => o.bits === bits);
}

export function findCutOption(problem: PlanningProblem, cut: number, bits: number): CutOption | undefined {
  return problem.cuts[cut].options.find((o) => o.bits === bits);
}

/**
 * Evaluates one plan: cut c, bits[i] for layer i + 1 (length c), activation bits (null iff c = L).
 * Throws CoreError('plan-invalid') when the plan names an option the problem does not have. Options are looked up
 * by bits in the problem as given (allowedBits is the solver's restriction, not the model's).
 */
export function evaluatePlan(problem: PlanningProblem, cut: number, bits: readonly number[], activationBits: number | null): Plan {
  const L = problem.layers.length;
  if (!Number.isInteger(cut) || cut < 0 || cut > L) throw new CoreError('plan-invalid', `Cut ${cut} is out of range: it must be an integer in 0..${L}.`);
  if (bits.length !== cut) throw new CoreError('plan-invalid', `A plan cut after layer ${cut} needs ${cut} weight precisions, got ${bits.length}.`);
  const { link, device, server, objective: w } = problem;

  let headWeightBytes = 0;
  let tDev = 0;
  let computeEnergy = 0;
  let degradation = 0;
  let macsBits = 0;
  for (let i = 0; i < cut; i++) {
    const o = findLayerOption(problem, i, bits[i]);
    if (!o) throw new CoreError('plan-invalid', `Layer ${i + 1} (${problem.layers[i].name}) has no ${bits[i]}-bit option.`);
    headWeightBytes += o.weightBytes;
    tDev += o.deviceTimeMs;
    computeEnergy += o.deviceEnergyJ;
    degradation += o.degradation;
    macsBits += problem.layers[i].macs * o.bits;
  }

  let tUp = 0;
  let tResult = 0;
  let uplinkBytes = 0;
  if (cut < L) {
    if (activationBits === null) throw new CoreError('plan-invalid', `A plan cut after layer ${cut} < L = ${L} needs activation bits.`);
    const a = findCutOption(problem, cut, activationBits);
    if (!a) throw new CoreError('plan-invalid', `Cut ${cut} has no ${activationBits}-bit activation option.`);
    uplinkBytes = a.bytes;
    tUp = link.rttMs / 2 + (a.bytes * 8 / link.uplinkBps) * 1000;
    tResult = link.rttMs / 2 + (problem.resultBytes * 8 / link.downlinkBps) * 1000;
    degradation += a.degradation;
  } else if (activationBits !== null) {
    throw new CoreError('plan-invalid', `A device-only plan (cut = L = ${L}) sends no activations; activation bits must be null.`);
  }

  const downloadBytes = problem.constraints.headCached ? 0 : headWeightBytes;
  const tDown = cut === 0 ? 0 : (downloadBytes * 8 / link.downlinkBps) * 1000;
  let tSrv = 0;
  for (let i = cut; i < L; i++) tSrv += problem.layers[i].serverTimeMs;

  const latencyMs = tDown + tDev + tUp + tSrv + tResult;
  const energyJ = computeEnergy + (device.powerTxW * tUp + device.powerRxW * (tDown + tResult) + device.powerIdleW * tSrv) / 1000;
  const costUsd = server.pricePerSecondUsd * tSrv / 1000;
  const objective = w.latency * latencyMs + w.energy * energyJ + w.cost * costUsd;

  let totalMacs = 0;
  for (const l of problem.layers) totalMacs += l.macs;
  const commDen = problem.inputBytes + problem.modelWeightBytes;

  return {
    cut,
    bits: [...bits],
    activationBits: cut < L ? activationBits : null,
    latencyMs,
    breakdownMs: { download: tDown, device: tDev, uplink: tUp, server: tSrv, result: tResult },
    energyJ,
    costUsd,
    degradation,
    objective,
    headWeightBytes,
    uplinkBytes,
    deviceMemoryBytes: headWeightBytes + problem.cuts[cut].peakActivationBytes,
    payload: {
      computation: totalMacs > 0 ? macsBits / (totalMacs * 32) : 0,
      communication: commDen > 0 ? (downloadBytes + uplinkBytes) / commDen : 0,
    },
  };
}

/** Where a plan cuts, in words. */
export function describeCut(problem: PlanningProblem, cut: number): string {
  const L = problem.layers.length;
  if (cut === 0) return 'full offload (cut before layer 1)';
  if (cut === L) return 'device only (no cut)';
  return `cut after layer ${cut} (${problem.layers[cut - 1].name})`;
}

function runs(bits: readonly number[]): string {
  // "8-bit x3, 4-bit x2, ..." in layer order, run-length encoded.
  const out: string[] = [];
  let i = 0;
  while (i < bits.length) {
    let j = i;
    while (j < bits.length && bits[j] === bits[i]) j++;
    out.push(j - i > 1 ? `${bits[i]}-bit x${j - i}` : `${bits[i]}-bit`);
    i = j;
  }
  return out.join(', ');
}

/** A fraction as a percentage: two decimals, or two significant digits below 0.1%. */
export function formatPercent(fraction: number): string {
  const pct = fraction * 100;
  if (pct === 0 || Math.abs(pct) >= 0.1) return `${pct.toFixed(2)}%`;
  return `${Number(pct.toPrecision(2))}%`;
}

export function formatMs(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`;
}

export function formatBytes(bytes: number): string {
  if (Math.abs(bytes) >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (Math.abs(bytes) >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${Math.round(bytes)} B`;
}

/** A one-line summary of a plan, e.g. for messages and tables. */
export function describePlan(problem: PlanningProblem, plan: Plan): string {
  const parts = [describeCut(problem, plan.cut)];
  if (plan.cut > 0) parts.push(`weights ${runs(plan.bits)}`);
  if (plan.activationBits !== null) parts.push(`activations ${plan.activationBits}-bit`);
  parts.push(`latency ${formatMs(plan.latencyMs)}`, `degradation ${formatPercent(plan.degradation)}`, `device memory ${formatBytes(plan.deviceMemoryBytes)}`);
  return parts.join(', ');
}
