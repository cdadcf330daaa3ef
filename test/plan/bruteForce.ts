/** Exhaustive enumeration of every plan (c, bits, a) of a small problem, evaluated with evaluatePlan. */
import type { Plan, PlanningProblem } from '../../core/api/planning.js';
import { evaluatePlan } from '../../core/plan/planCost.js';

/** Calls visit(plan) for every plan the problem allows (allowedBits / allowedActivationBits respected). */
export function enumeratePlans(problem: PlanningProblem, visit: (plan: Plan) => void): void {
  const L = problem.layers.length;
  const aw = problem.constraints.allowedBits as number[] | undefined;
  const aa = problem.constraints.allowedActivationBits as number[] | undefined;
  for (let c = 0; c <= L; c++) {
    const acts = c < L ? problem.cuts[c].options.filter((o) => !aa || aa.includes(o.bits)).map((o) => o.bits) : [null];
    const bits: number[] = [];
    const rec = (i: number): void => {
      if (i === c) {
        for (const a of acts) visit(evaluatePlan(problem, c, bits, a));
        return;
      }
      for (const o of problem.layers[i].options) {
        if (aw && !aw.includes(o.bits)) continue;
        bits.push(o.bits);
        rec(i + 1);
        bits.pop();
      }
    };
    rec(0);
  }
}

/** The plan minimising goal(plan) among those accepted by ok(plan); null if none. */
export function bruteForceBest(problem: PlanningProblem, ok: (p: Plan) => boolean, goal: (p: Plan) => number = (p) => p.objective): Plan | null {
  let best: Plan | null = null;
  let bestValue = Infinity;
  enumeratePlans(problem, (p) => {
    if (!ok(p)) return;
    const v = goal(p);
    if (v < bestValue) {
      bestValue = v;
      best = p;
    }
  });
  return best;
}

export function relClose(a: number, b: number, rel = 1e-9): boolean {
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-300);
}
