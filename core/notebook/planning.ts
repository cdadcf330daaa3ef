/**
 * What a `run` cell with `"view": "pareto"` computes from a settings cell: the planning problem (built once per
 * model/device/link/server/estimator/input shape, or given inline, and registered once on the core with
 * plan.register), then, per edit, the front, the solver's plan and the baselines from one plan.explore that names
 * the problem by id and sends only the objective and constraints: a budget edit costs a few hundred bytes and the
 * solves, not the problem's 85 KB on the socket and its validation.
 */
import type { BaselinePlanView, CoreApi, ParetoFrontView, SolveResult } from '../api/contract.js';
import type { Plan, PlanningProblem } from '../api/planning.js';
import { checkPlanSettings, type PlanSettings } from './settings.js';

/** The calls planning makes: any CoreApi (an RPC client, or the handlers behind an in-memory port) will do. */
export type PlanningApi = Pick<CoreApi, 'plan.build' | 'plan.register' | 'plan.explore'>;

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

/** A problem registered on the core. */
export interface RegisteredProblem {
  problemId: string;
  layerNames: string[];
}

export class PlanningCache {
  /** Built problems by their settings, inline ones by their JSON; each registered once. */
  private problems = new Map<string, Promise<PlanningProblem>>();
  private registered = new Map<string, Promise<RegisteredProblem>>();
  constructor(private api: PlanningApi) {}

  private key(s: PlanSettings): string {
    return s.problem ? `inline:${JSON.stringify(s.problem)}` : JSON.stringify([s.model, s.device, s.link, s.server ?? null, s.estimator ?? null, s.inputShape ?? null]);
  }

  /** The planning problem of these settings (built with plan.build, or the inline one). */
  problem(s: PlanSettings): Promise<PlanningProblem> {
    if (s.problem) return Promise.resolve(s.problem as unknown as PlanningProblem);
    const key = this.key(s);
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

  /** The core's id of these settings' problem; `again` registers anew (the core forgot it, e.g. it restarted). */
  register(s: PlanSettings, again = false): Promise<RegisteredProblem> {
    const key = this.key(s);
    let r = again ? undefined : this.registered.get(key);
    if (!r) {
      r = this.problem(s).then(async (problem) => {
        const { problemId } = await this.api['plan.register']({ problem });
        return { problemId, layerNames: problem.layers.map((l) => l.name) };
      });
      this.registered.set(key, r);
      r.catch(() => {
        if (this.registered.get(key) === r) this.registered.delete(key);
      });
    }
    return r;
  }

  /** Forget built problems (after an import or a new sensitivity run). */
  clear(): void {
    this.problems.clear();
    this.registered.clear();
  }
}

export async function evaluatePareto(api: PlanningApi, cache: PlanningCache, settingsValue: unknown, points?: number): Promise<ParetoValue> {
  const s = checkPlanSettings(settingsValue);
  const explore = (problemId: string) => api['plan.explore']({ problemId, objective: s.objective, constraints: s.constraints, points: points ?? s.points ?? 50 });
  let reg = await cache.register(s);
  let r;
  try {
    r = await explore(reg.problemId);
  } catch (e) {
    if ((e as { code?: string }).code !== 'plan-problem-unknown') throw e;
    reg = await cache.register(s, true);
    r = await explore(reg.problemId);
  }
  const { front, solve, baselines } = r;
  return {
    settings: { ...s, problem: s.problem ? { inline: true } : undefined },
    model: s.problem ? null : s.model!,
    layerNames: reg.layerNames,
    front,
    solve,
    baselines,
    selected: solve.status === 'optimal' ? solve.plan : front.knee >= 0 ? front.plans[front.knee] : null,
    selectedBy: 'solver',
  };
}
