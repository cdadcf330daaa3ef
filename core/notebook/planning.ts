/**
 * What a `run` cell with `"view": "pareto"` computes from a settings cell: the planning problem (built once per
 * model/device/link/server/estimator/input shape, or given inline, and registered once on the core with
 * plan.register), then, per edit, the front, the solver's plan and the baselines from one plan.explore that names
 * the problem by id and sends only the objective and constraints: a budget edit costs a few hundred bytes and the
 * solves, not the problem's 85 KB on the socket and its validation.
 *
 * Progressive refinement (the live view, issue 5): a problem the core has not swept yet (a device or link edit
 * makes a new problem) is first answered with a coarse front (`sweep: 'coarse'`, COARSE_POINTS budgets) plus the
 * exact plan, marked `coarse` and `refining`. Every progressive answer (a budget edit too) has only the baselines
 * that need no search (`baselines: 'fixed'`; bits-only is named pending until the core has it for that budget) and
 * is then `refining`. The caller asks for the rest with refinePareto and shows it when it arrives (unless another
 * edit came meanwhile). A device or link edit registers the new problem as a patch of the last one (plan.register
 * { baseId, patch }), and the cell's requests share a plan.explore lane, so an edit abandons a full sweep still
 * running for the cell.
 */
import type { BaselinePlanView, CoreApi, ParetoFrontView, SolveResult } from '../api/contract.js';
import { PROBLEM_PATCH_PARTS, type Plan, type PlanningProblem, type ProblemPatch, type ProblemPatchPart } from '../api/planning.js';
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
  /** Baselines left out of a coarse first answer (they need a search); the refined answer has them. */
  baselinesPending: string[];
  selected: Plan | null;
  selectedBy: 'solver' | 'click';
  /** The front is the coarse first answer (COARSE_POINTS budgets); the full one follows (see refinePareto). */
  coarse: boolean;
  /** A fuller answer follows (see refinePareto): the front is coarse, or baselines are pending. */
  refining: boolean;
}

/** Budgets of the coarse first front (own weighting only: points + 3 solves and 2 compiles, see paretoFront). */
export const COARSE_POINTS = 6;

/** A problem registered on the core. */
export interface RegisteredProblem {
  problemId: string;
  layerNames: string[];
}

export class PlanningCache {
  /** Built problems by their settings, inline ones by their JSON; each registered once. */
  private problems = new Map<string, Promise<PlanningProblem>>();
  private registered = new Map<string, Promise<RegisteredProblem>>();
  /** The problem registered last, for patches: its parts but the patchable ones, the patchable ones, its id. */
  private last: { rest: string; parts: Record<ProblemPatchPart, string>; id: Promise<string> } | null = null;
  /** Full sweeps the core has computed: problem id, objective, constraints but the budget, points. */
  private swept = new Set<string>();
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

  /**
   * The core's id of these settings' problem; `again` registers anew (the core forgot it, e.g. it restarted). `lane`:
   * the caller's plan.explore lane, whose running sweep a new problem abandons at once.
   */
  register(s: PlanSettings, again = false, lane?: string): Promise<RegisteredProblem> {
    const key = this.key(s);
    let r = again ? undefined : this.registered.get(key);
    if (!r) {
      r = this.problem(s).then(async (problem) => ({ problemId: await this.registerProblem(problem, lane), layerNames: problem.layers.map((l) => l.name) }));
      this.registered.set(key, r);
      r.catch(() => {
        if (this.registered.get(key) === r) this.registered.delete(key);
      });
    }
    return r;
  }

  /**
   * Registers a problem: as a patch of the last one registered when only its small parts (PROBLEM_PATCH_PARTS: a
   * device, link, server, objective or budget edit) differ, else whole (also when the core forgot the base).
   */
  private async registerProblem(problem: PlanningProblem, lane?: string): Promise<string> {
    const inLane = lane !== undefined ? { lane } : {};
    const rest = JSON.stringify({ ...problem, ...Object.fromEntries(PROBLEM_PATCH_PARTS.map((k) => [k, null])) });
    const parts = Object.fromEntries(PROBLEM_PATCH_PARTS.map((k) => [k, JSON.stringify(problem[k])])) as Record<ProblemPatchPart, string>;
    const last = this.last;
    let problemId: string | null = null;
    if (last && last.rest === rest && PROBLEM_PATCH_PARTS.every((k) => problem[k] !== undefined)) {
      const patch: Partial<Record<ProblemPatchPart, unknown>> = {};
      for (const k of PROBLEM_PATCH_PARTS) if (parts[k] !== last.parts[k]) patch[k] = problem[k];
      const baseId = await last.id.catch(() => null);
      if (baseId !== null) {
        try {
          problemId = (await this.api['plan.register']({ baseId, patch: patch as ProblemPatch, ...inLane })).problemId;
        } catch (e) {
          if ((e as { code?: string }).code !== 'plan-problem-unknown') throw e;
        }
      }
    }
    const id = problemId !== null ? Promise.resolve(problemId) : this.api['plan.register']({ problem, ...inLane }).then((r) => r.problemId);
    const entry = { rest, parts, id };
    this.last = entry;
    id.catch(() => {
      if (this.last === entry) this.last = null;
    });
    return id;
  }

  /** Whether the core has swept this problem's full front for these settings (so a full explore is a budget edit). */
  sweptKey(problemId: string, s: PlanSettings, points: number): string {
    return JSON.stringify([problemId, s.objective, { ...s.constraints, maxDegradation: null }, points]);
  }

  hasSwept(key: string): boolean {
    return this.swept.has(key);
  }

  markSwept(key: string): void {
    this.swept.add(key);
    if (this.swept.size > 256) this.swept.delete(this.swept.values().next().value!);
  }

  /** Forget built problems (after an import or a new sensitivity run). */
  clear(): void {
    this.problems.clear();
    this.registered.clear();
    this.swept.clear();
    this.last = null;
  }
}

export interface ParetoEvaluation {
  /** Answer a problem not swept before with a coarse front first (`refining`); refinePareto then gives the full one. */
  progressive?: boolean;
  /** plan.explore's lane (the cell id): a newer request of the cell abandons a full sweep still running for it. */
  lane?: string;
}

export async function evaluatePareto(api: PlanningApi, cache: PlanningCache, settingsValue: unknown, points?: number, opts: ParetoEvaluation = {}): Promise<ParetoValue> {
  const s = checkPlanSettings(settingsValue);
  const fullPoints = points ?? s.points ?? 50;
  let reg = await cache.register(s, false, opts.lane);
  let coarse = false;
  const explore = (problemId: string) => {
    const key = cache.sweptKey(problemId, s, fullPoints);
    coarse = opts.progressive === true && !cache.hasSwept(key) && fullPoints > COARSE_POINTS;
    // Progressive answers leave out the baselines that need a search of their own (bits-only, about as long as the
    // solve): the front and the plan come first, the core names what is pending, and refinePareto fetches it.
    const p = api['plan.explore']({
      problemId,
      objective: s.objective,
      constraints: s.constraints,
      ...(coarse ? { points: COARSE_POINTS, sweep: 'coarse' as const } : { points: fullPoints }),
      ...(opts.progressive ? { baselines: 'fixed' as const } : {}),
      ...(opts.lane !== undefined ? { lane: opts.lane } : {}),
    });
    return coarse ? p : p.then((r) => (cache.markSwept(key), r));
  };
  let r;
  try {
    r = await explore(reg.problemId);
  } catch (e) {
    if ((e as { code?: string }).code !== 'plan-problem-unknown') throw e;
    reg = await cache.register(s, true, opts.lane);
    r = await explore(reg.problemId);
  }
  const { front, solve, baselines, baselinesPending } = r;
  return {
    settings: { ...s, problem: s.problem ? { inline: true } : undefined },
    model: s.problem ? null : s.model!,
    layerNames: reg.layerNames,
    front,
    solve,
    baselines,
    baselinesPending: baselinesPending ?? [],
    selected: solve.status === 'optimal' ? solve.plan : front.knee >= 0 ? front.plans[front.knee] : null,
    selectedBy: 'solver',
    coarse,
    refining: coarse || (baselinesPending?.length ?? 0) > 0,
  };
}
