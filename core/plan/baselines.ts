/**
 * The baselines every comparison includes (shared/SCIENCE.md, "The solver"), computed on the same problem with the
 * same cost model (evaluatePlan), so ratios are like for like.
 *
 * - device-fp32: c = L, every layer at the highest precision it offers (FP32 when present).
 * - device-int8: c = L, every layer at 8 bits (a layer without an 8-bit option: the nearest precision above 8 it
 *   offers, else the nearest below).
 * - full-offload: c = 0; the input is sent losslessly: the smallest-bits activation option of cut 0 whose predicted
 *   degradation is <= 0 (e.g. an 8-bit image input), else the highest precision offered (FP32).
 * - neurosurgeon: the best cut by the problem's objective with every head layer at its highest precision and the
 *   activations at the highest precision of each cut (no quantization), among the cuts that meet the SLO and memory
 *   constraints (the budget is met trivially unless FP32 options carry degradation); if none does, the best cut
 *   regardless, flagged infeasible.
 * - uniform8-best-cut: 8-bit weights (as device-int8) and 8-bit activations (nearest offered) at the best cut by the
 *   objective subject to all constraints incl. the budget; if no cut meets them, the best cut regardless, flagged.
 * - bits-only: HAWQ-style mixed precision without a cut: the exact solver restricted to c = L; if that is
 *   infeasible, the nearest plan of its infeasibility report, flagged; null if c = L is impossible under allowedBits.
 *
 * The fixed-precision baselines ignore allowedBits / allowedActivationBits (they define their own precisions);
 * bits-only respects them, like the solver.
 */
import type { Plan, PlanningProblem } from '../api/planning.js';
import { explainInfeasibility } from './infeasibility.js';
import { checkConstraints, evaluatePlan, objectiveGoal, standardConstraints } from './planCost.js';
import { compileSearch, type CompiledSearch } from './search.js';

export type BaselineName = 'device-fp32' | 'device-int8' | 'full-offload' | 'neurosurgeon' | 'uniform8-best-cut' | 'bits-only';

export const BASELINE_LABELS: Record<BaselineName, string> = {
  'device-fp32': 'Device only, FP32',
  'device-int8': 'Device only, uniform INT8',
  'full-offload': 'Full offload',
  neurosurgeon: 'Neurosurgeon (best cut, FP32)',
  'uniform8-best-cut': 'Uniform 8-bit head + best cut',
  'bits-only': 'Bits only (HAWQ-style, no cut)',
};

export interface BaselinePlan extends Plan {
  baseline: BaselineName;
  label: string;
  /** Which of the problem's constraints the plan meets (null: the constraint is not active). */
  feasible: { degradation: boolean; latency: boolean | null; memory: boolean | null; all: boolean };
}

export type Baselines = Record<BaselineName, BaselinePlan | null>;

function highest(bits: readonly number[]): number {
  return Math.max(...bits);
}

/** 8 if offered, else the nearest precision above 8, else the nearest below. */
function nearest8(bits: readonly number[]): number {
  if (bits.includes(8)) return 8;
  const above = bits.filter((b) => b > 8);
  return above.length ? Math.min(...above) : Math.max(...bits);
}

function flag(problem: PlanningProblem, plan: Plan, name: BaselineName): BaselinePlan {
  const { ok, checks } = checkConstraints(problem, plan);
  const get = (n: string): boolean | null => checks.find((c) => c.name === n)?.ok ?? null;
  return { ...plan, baseline: name, label: BASELINE_LABELS[name], feasible: { degradation: get('degradation')!, latency: get('latency'), memory: get('memory'), all: ok } };
}

/** Head bits chosen per layer by `pick`, activation bits by `pickAct` (null for c = L). */
function fixedPlan(problem: PlanningProblem, cut: number, pick: (bits: number[]) => number, pickAct: (c: number) => number): Plan {
  const bits = problem.layers.slice(0, cut).map((l) => pick(l.options.map((o) => o.bits)));
  return evaluatePlan(problem, cut, bits, cut < problem.layers.length ? pickAct(cut) : null);
}

/** The best cut by objective among feasible plans (or among all, if none is feasible). */
function bestCut(problem: PlanningProblem, make: (c: number) => Plan): Plan {
  let best: Plan | null = null;
  let bestFeasible = false;
  for (let c = 0; c <= problem.layers.length; c++) {
    const p = make(c);
    const f = checkConstraints(problem, p).ok;
    if (!best || (f && !bestFeasible) || (f === bestFeasible && p.objective < best.objective)) {
      best = p;
      bestFeasible = f;
    }
  }
  return best!;
}

/**
 * What the baselines of a problem share across budget edits: the fixed-precision plans of every cut (they do not
 * depend on the constraints' caps) and the search behind bits-only. Valid for problems that differ from the one it
 * was prepared for only in the caps of their constraints: maxDegradation, and the value of sloMs when one is set.
 */
export interface PreparedBaselines {
  deviceFp32: Plan;
  deviceInt8: Plan;
  offload: Plan;
  /** neurosurgeon[c], uniform8[c]: the fixed plan cut after layer c. */
  neurosurgeon: Plan[];
  uniform8: Plan[];
  /** The search for the problem's objective and constraint rows (shared with solve's `compiled`). */
  compiled: CompiledSearch;
}

export function prepareBaselines(problem: PlanningProblem, compiled?: CompiledSearch): PreparedBaselines {
  const L = problem.layers.length;
  const cutBits = (c: number): number[] => problem.cuts[c].options.map((o) => o.bits);
  const lossless = (): number => {
    const zero = problem.cuts[0].options.filter((o) => o.degradation <= 0).map((o) => o.bits);
    return zero.length ? Math.min(...zero) : highest(cutBits(0));
  };
  const cuts = Array.from({ length: L + 1 }, (_, c) => c);
  return {
    deviceFp32: fixedPlan(problem, L, highest, () => 0),
    deviceInt8: fixedPlan(problem, L, nearest8, () => 0),
    offload: evaluatePlan(problem, 0, [], lossless()),
    neurosurgeon: cuts.map((c) => fixedPlan(problem, c, highest, (cc) => highest(cutBits(cc)))),
    uniform8: cuts.map((c) => fixedPlan(problem, c, nearest8, (cc) => nearest8(cutBits(cc)))),
    compiled: compiled ?? compileSearch(problem, objectiveGoal(problem), standardConstraints(problem).map((r) => r.coef)),
  };
}

/**
 * The baselines; `prepared` (from prepareBaselines on the same problem up to its caps) saves their fixed part.
 * `fixedOnly`: without bits-only (null), the one that needs a search.
 */
export function computeBaselines(problem: PlanningProblem, prepared: PreparedBaselines = prepareBaselines(problem), opts: { fixedOnly?: boolean } = {}): Baselines {
  const L = problem.layers.length;
  const neurosurgeon = bestCut(problem, (c) => prepared.neurosurgeon[c]);
  const uniform8 = bestCut(problem, (c) => prepared.uniform8[c]);

  let bitsOnly: BaselinePlan | null = null;
  const r = opts.fixedOnly ? null : prepared.compiled.run({ constraints: standardConstraints(problem), cuts: [L] });
  if (!r) bitsOnly = null;
  else if (r.plan) bitsOnly = flag(problem, r.plan, 'bits-only');
  else {
    try {
      bitsOnly = flag(problem, explainInfeasibility(problem, { cuts: [L] }).nearest, 'bits-only');
    } catch {
      bitsOnly = null; // c = L impossible under allowedBits
    }
  }
  return {
    'device-fp32': flag(problem, prepared.deviceFp32, 'device-fp32'),
    'device-int8': flag(problem, prepared.deviceInt8, 'device-int8'),
    'full-offload': flag(problem, prepared.offload, 'full-offload'),
    neurosurgeon: flag(problem, neurosurgeon, 'neurosurgeon'),
    'uniform8-best-cut': flag(problem, uniform8, 'uniform8-best-cut'),
    'bits-only': bitsOnly,
  };
}

export interface BaselineComparison {
  baseline: BaselineName;
  label: string;
  baselineFeasible: boolean;
  /** plan / baseline; null when the baseline's value is 0 and the plan's is not (1 when both are 0). */
  latencyRatio: number | null;
  energyRatio: number | null;
  costRatio: number | null;
  computationPayloadRatio: number | null;
  communicationPayloadRatio: number | null;
  /** plan.degradation - baseline.degradation (fraction; 0.01 = one percentage point). */
  degradationDiff: number;
}

function ratio(a: number, b: number): number | null {
  if (b !== 0) return a / b;
  return a === 0 ? 1 : null;
}

export function compareToBaselines(plan: Plan, baselines: Baselines): BaselineComparison[] {
  const out: BaselineComparison[] = [];
  for (const name of Object.keys(BASELINE_LABELS) as BaselineName[]) {
    const b = baselines[name];
    if (!b) continue;
    out.push({
      baseline: name,
      label: b.label,
      baselineFeasible: b.feasible.all,
      latencyRatio: ratio(plan.latencyMs, b.latencyMs),
      energyRatio: ratio(plan.energyJ, b.energyJ),
      costRatio: ratio(plan.costUsd, b.costUsd),
      computationPayloadRatio: ratio(plan.payload.computation, b.payload.computation),
      communicationPayloadRatio: ratio(plan.payload.communication, b.payload.communication),
      degradationDiff: plan.degradation - b.degradation,
    });
  }
  return out;
}
