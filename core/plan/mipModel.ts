/**
 * The planning problem as a mixed-integer program in CPLEX LP format, for an independent check of the exact search
 * with a general MIP solver (the tests and `benchSolver` use HiGHS; core itself does not depend on any solver).
 * It is written from the formulas of planCost.ts directly and shares no code with search.ts.
 *
 *   x_{c,a} in {0,1}: cut c with activation option a (c < L); x_L: device only.   sum x = 1
 *   y_{l,q} in {0,1}: layer l on the device at option q.                          sum_q y_{l,q} = sum_{c >= l, a} x_{c,a}
 *   min  sum_{l,q} coef_obj(l,q) y + sum_{c,a} const_obj(c,a) x
 *   s.t. degradation, latency (if SLO), memory (if enforced): the same split into per-option and per-(c,a) terms.
 *
 * Units are rescaled per row for the solver's absolute tolerances: degradation in percent, memory in MiB, and the
 * objective normalised (see objectiveScale).
 */
import type { PlanningProblem } from '../api/planning.js';
import { DEGRADATION_TOLERANCE, LATENCY_RELATIVE_TOLERANCE } from './planCost.js';
import type { PlanChoice } from './search.js';

const DEG_SCALE = 100;
const MEM_SCALE = 1 / 2 ** 20;

export interface MipModel {
  lp: string;
  /** The LP's objective is the plan objective times this factor (coefficients normalised to at most 1 in size, so
   * the solver's absolute tolerances do not swallow objectives of 1e-8 such as a cost-only one). */
  objectiveScale: number;
  /** Turns the solver's column values into a plan choice. */
  decode(columns: Record<string, { Primal: number }>): PlanChoice;
}

function num(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`non-finite coefficient ${x}`);
  return String(x);
}

function linear(terms: [number, string][]): string {
  const parts: string[] = [];
  for (const [c, v] of terms) {
    if (c === 0) continue;
    parts.push(`${c < 0 ? '-' : '+'} ${num(Math.abs(c))} ${v}`);
  }
  return parts.length ? parts.join(' ') : `+ 0 ${terms[0]?.[1] ?? 'x_L'}`;
}

/** Lines of at most 8 terms (the LP format has a line-length limit). */
function wrap(expr: string): string {
  const tokens = expr.split(' ');
  const lines: string[] = [];
  for (let i = 0; i < tokens.length; i += 24) lines.push(tokens.slice(i, i + 24).join(' '));
  return lines.join('\n  ');
}

export function toCplexLp(problem: PlanningProblem): MipModel {
  const L = problem.layers.length;
  const { link, device, server, objective: w, constraints: k } = problem;
  const allowedW = k.allowedBits ? new Set<number>(k.allowedBits) : null;
  const allowedA = k.allowedActivationBits ? new Set<number>(k.allowedActivationBits) : null;
  // The cut cannot pass a layer that has no allowed option.
  let maxCut = L;
  for (let i = 0; i < L; i++) {
    if (!problem.layers[i].options.some((o) => !allowedW || allowedW.has(o.bits))) {
      maxCut = i;
      break;
    }
  }
  const obj: [number, string][] = [];
  const deg: [number, string][] = [];
  const lat: [number, string][] = [];
  const mem: [number, string][] = [];
  const xs: { name: string; cut: number; act: number | null }[] = [];
  const ys: { name: string; layer: number; bits: number }[] = [];

  for (let c = 0; c <= maxCut; c++) {
    let tSrv = 0;
    for (let i = c; i < L; i++) tSrv += problem.layers[i].serverTimeMs;
    const peak = problem.cuts[c].peakActivationBytes;
    if (c === L) {
      xs.push({ name: 'x_L', cut: L, act: null });
      obj.push([0, 'x_L']);
      mem.push([peak * MEM_SCALE, 'x_L']);
      continue;
    }
    problem.cuts[c].options.forEach((a, ai) => {
      if (allowedA && !allowedA.has(a.bits)) return;
      const name = `x_${c}_${ai}`;
      const tUp = link.rttMs / 2 + (a.bytes * 8 / link.uplinkBps) * 1000;
      const tRes = link.rttMs / 2 + (problem.resultBytes * 8 / link.downlinkBps) * 1000;
      const latency = tUp + tSrv + tRes;
      const energy = (device.powerTxW * tUp + device.powerRxW * tRes + device.powerIdleW * tSrv) / 1000;
      const cost = server.pricePerSecondUsd * tSrv / 1000;
      xs.push({ name, cut: c, act: a.bits });
      obj.push([w.latency * latency + w.energy * energy + w.cost * cost, name]);
      deg.push([a.degradation * DEG_SCALE, name]);
      lat.push([latency, name]);
      mem.push([peak * MEM_SCALE, name]);
    });
  }
  const linkRows: string[] = [];
  for (let l = 0; l < maxCut; l++) {
    const terms: [number, string][] = [];
    problem.layers[l].options.forEach((o, qi) => {
      if (allowedW && !allowedW.has(o.bits)) return;
      const name = `y_${l}_${qi}`;
      const dl = k.headCached ? 0 : (o.weightBytes * 8 / link.downlinkBps) * 1000;
      ys.push({ name, layer: l, bits: o.bits });
      obj.push([w.latency * (dl + o.deviceTimeMs) + w.energy * (o.deviceEnergyJ + device.powerRxW * dl / 1000), name]);
      deg.push([o.degradation * DEG_SCALE, name]);
      lat.push([dl + o.deviceTimeMs, name]);
      mem.push([o.weightBytes * MEM_SCALE, name]);
      terms.push([1, name]);
    });
    // layer l (0-based) is on the device iff c >= l + 1
    for (const x of xs) if (x.cut >= l + 1) terms.push([-1, x.name]);
    linkRows.push(` head_${l}: ${wrap(linear(terms))} = 0`);
  }
  const rows: string[] = [` one: ${wrap(linear(xs.map((x) => [1, x.name])))} = 1`, ...linkRows];
  rows.push(` deg: ${wrap(linear(deg))} <= ${num((k.maxDegradation + DEGRADATION_TOLERANCE) * DEG_SCALE)}`);
  if (k.sloMs !== undefined) rows.push(` lat: ${wrap(linear(lat))} <= ${num(k.sloMs * (1 + LATENCY_RELATIVE_TOLERANCE))}`);
  if (k.enforceMemory) rows.push(` mem: ${wrap(linear(mem))} <= ${num(device.memoryBytes * MEM_SCALE)}`);
  const allVars = [...xs.map((x) => x.name), ...ys.map((y) => y.name)];
  let maxCoef = 0;
  for (const [c] of obj) maxCoef = Math.max(maxCoef, Math.abs(c));
  const objectiveScale = maxCoef > 0 ? 1 / maxCoef : 1;
  const scaledObj: [number, string][] = obj.map(([c, v]) => [c * objectiveScale, v]);
  const lp = [
    'Minimize',
    ` obj: ${wrap(linear(scaledObj.length ? scaledObj : [[0, 'x_L']]))}`,
    'Subject To',
    ...rows,
    'Binary',
    ...allVars.map((v) => ` ${v}`),
    'End',
    '',
  ].join('\n');

  const decode = (columns: Record<string, { Primal: number }>): PlanChoice => {
    const x = xs.find((v) => (columns[v.name]?.Primal ?? 0) > 0.5);
    if (!x) throw new Error('MIP solution selects no cut');
    const bits: number[] = [];
    for (let l = 0; l < x.cut; l++) {
      const y = ys.find((v) => v.layer === l && (columns[v.name]?.Primal ?? 0) > 0.5);
      if (!y) throw new Error(`MIP solution selects no option for layer ${l + 1}`);
      bits.push(y.bits);
    }
    return { cut: x.cut, bits, activationBits: x.act };
  };
  return { lp, objectiveScale, decode };
}
