/**
 * What a `run` cell with `"view": "pareto"` computes from a settings cell: the planning problem (built once per
 * model/device/link/server/estimator/input shape and cached; objective and constraints are patched in, so an edit
 * of the budget costs only the solves), then the front, the solver's plan and the baselines, in parallel.
 */
import type { BaselinePlanView, CoreApi, ParetoFrontView, SolveResult } from '../api/contract.js';
import type { Plan, PlanningProblem } from '../api/planning.js';
import { checkPlanSettings, type PlanSettings } from './settings.js';

/** The calls planning makes: any CoreApi (an RPC client, or the handlers behind an in-memory port) will do. */
export type PlanningApi = Pick<CoreApi, 'plan.build' | 'plan.explore'>;

export interface ParetoValue {
  settings: PlanSettings;
  model: string | null;
  layerNames: string[];
  front: ParetoFrontView;
  solve: SolveResult;
  baselines: BaselinePlanView[];
  selected: Plan | null;
  selectedBy: 'solver' | 'click';
}

export class PlanningCache {
  private problems = new Map<string, Promise<PlanningProblem>>();
  constructor(private api: PlanningApi) {}

  problem(s: PlanSettings): Promise<PlanningProblem> {
    if (s.problem) return Promise.resolve(s.problem as unknown as PlanningProblem);
    const key = JSON.stringify([s.model, s.device, s.link, s.server ?? null, s.estimator ?? null, s.inputShape ?? null]);
    let p = this.problems.get(key);
    if (!p) {
      p = this.api['plan.build']({
        model: s.model!,
        device: s.device!,
        link: s.link!,
        ...(s.server ? { server: s.server } : {}),
        ...(s.estimator ? { estimator: s.estimator } : {}),
        ...(s.inputShape ? { inputShape: s.inputShape } : {}),
        objective: s.objective,
        constraints: s.constraints,
      }) as Promise<PlanningProblem>;
      this.problems.set(key, p);
      p.catch(() => this.problems.delete(key));
    }
    return p;
  }

  /** Forget built problems (after an import or a new sensitivity run). */
  clear(): void {
    this.problems.clear();
  }
}

export async function evaluatePareto(api: PlanningApi, cache: PlanningCache, settingsValue: unknown, points?: number): Promise<ParetoValue> {
  const s = checkPlanSettings(settingsValue);
  const base = await cache.problem(s);
  const problem: PlanningProblem = { ...base, objective: s.objective, constraints: s.constraints };
  // One call: the 85 KB problem of a large model crosses the socket and is validated once per edit, not three times.
  const { front, solve, baselines } = await api['plan.explore']({ problem, points: points ?? s.points ?? 50 });
  return {
    settings: { ...s, problem: s.problem ? { inline: true } : undefined },
    model: s.problem ? null : s.model!,
    layerNames: problem.layers.map((l) => l.name),
    front,
    solve,
    baselines,
    selected: solve.status === 'optimal' ? solve.plan : front.knee >= 0 ? front.plans[front.knee] : null,
    selectedBy: 'solver',
  };
}
