/**
 * The live view's planner: one planning problem explored under many objectives and constraints (the notebook's
 * budget edits, issue 5's "live means live"). What does not depend on the constraints' caps is computed once per
 * constraint shape (objective and constraints without maxDegradation) and kept: the budget sweep of the Pareto front
 * (it spans every budget, see withOwnOptimum), the compiled search shared by the solve and the bits-only baseline,
 * and the fixed-precision baselines. A budget edit then costs one solve, one bits-only search and the merge; a budget
 * seen before (a slider moved back) costs nothing. Answers are shared: callers must not change them.
 */
import type { Constraints, Objective, PlanningProblem } from '../api/planning.js';
import { computeBaselines, prepareBaselines, type BaselinePlan, type PreparedBaselines } from './baselines.js';
import { paretoFront, paretoFrontSliced, withOwnOptimum, type ParetoFront } from './pareto.js';
import { objectiveGoal, standardConstraints } from './planCost.js';
import { compileSearch, type CompiledSearch } from './search.js';
import { solve, type SolveResult } from './solver.js';

export interface Exploration {
  /** The front under the problem's constraints (as paretoFront would give it). */
  front: ParetoFront;
  /** The optimum under the problem's own budget, or why there is none (as solve would give it). */
  solve: SolveResult;
}

export interface ExploreRequest {
  /** Replace the problem's objective / constraints (the problem itself is not changed). */
  objective?: Objective;
  constraints?: Constraints;
  /** Budget values of the front's sweep (default 50). */
  points?: number;
  /** The sweep's weightings (paretoFront's `sweep`, default 'full'). */
  sweep?: 'full' | 'coarse';
}

interface Shape {
  compiled: CompiledSearch;
  baselines: PreparedBaselines | null;
  /** The sweep at budget 1 per sweep and number of points. */
  fronts: Map<string, ParetoFront>;
  /** Answers by budget (and points): a slider moved back to a value it had costs nothing. Most recent last. */
  explored: Map<string, Exploration>;
  baselined: Map<number, BaselinePlan[]>;
  /** Sliced sweeps under way, by sweep and number of points. */
  sweeping: Map<string, Promise<ParetoFront>>;
}

/** Answers kept per constraint shape. */
const ANSWERS_KEPT = 64;

function remember<K, V>(m: Map<K, V>, key: K, v: V): V {
  m.set(key, v);
  if (m.size > ANSWERS_KEPT) m.delete(m.keys().next().value!);
  return v;
}

/** JSON with object keys sorted, so equal settings written in another key order share a cache entry. */
function stableKey(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

export class ProblemExplorer {
  /** Most recently used last. */
  private shapes = new Map<string, Shape>();

  /** `problem` must be valid (validateProblem); its objective and constraints are the defaults of each request. */
  constructor(
    readonly problem: PlanningProblem,
    private readonly maxShapes = 8,
  ) {}

  /** The problem a request describes. */
  problemFor(r: ExploreRequest): PlanningProblem {
    return { ...this.problem, objective: r.objective ?? this.problem.objective, constraints: r.constraints ?? this.problem.constraints };
  }

  private shape(problem: PlanningProblem): Shape {
    const key = stableKey([problem.objective, { ...problem.constraints, maxDegradation: null }]);
    let s = this.shapes.get(key);
    if (s) {
      this.shapes.delete(key);
    } else {
      s = { compiled: compileSearch(problem, objectiveGoal(problem), standardConstraints(problem).map((r) => r.coef)), baselines: null, fronts: new Map(), explored: new Map(), baselined: new Map(), sweeping: new Map() };
      if (this.shapes.size >= this.maxShapes) this.shapes.delete(this.shapes.keys().next().value!);
    }
    this.shapes.set(key, s);
    return s;
  }

  /** The front and the optimum under the request's budget: the cached sweep plus one solve. */
  explore(r: ExploreRequest = {}): Exploration {
    const problem = this.problemFor(r);
    const points = Math.max(1, Math.floor(r.points ?? 50));
    const sweep = r.sweep ?? 'full';
    const s = this.shape(problem);
    const key = `${sweep}|${points}|${problem.constraints.maxDegradation}`;
    const known = s.explored.get(key);
    if (known) return known;
    let base = s.fronts.get(`${sweep}|${points}`);
    if (!base) {
      base = paretoFront({ ...problem, constraints: { ...problem.constraints, maxDegradation: 1 } }, { points, sweep, compiled: s.compiled });
      s.fronts.set(`${sweep}|${points}`, base);
    }
    const t0 = performance.now();
    const own = solve(problem, { compiled: s.compiled });
    return remember(s.explored, key, { front: withOwnOptimum(base, own.status === 'optimal' ? own.plan : null, performance.now() - t0), solve: own });
  }

  /**
   * explore, with the front's sweep (when not kept yet) run in slices that let the event loop answer other requests
   * between solves (paretoFrontSliced); `signal` abandons the sweep. Concurrent calls for one sweep share it.
   */
  async exploreSliced(r: ExploreRequest = {}, signal?: AbortSignal): Promise<Exploration> {
    const problem = this.problemFor(r);
    const points = Math.max(1, Math.floor(r.points ?? 50));
    const sweep = r.sweep ?? 'full';
    const s = this.shape(problem);
    const fkey = `${sweep}|${points}`;
    if (!s.fronts.has(fkey)) {
      let p = s.sweeping.get(fkey);
      if (!p) {
        p = paretoFrontSliced({ ...problem, constraints: { ...problem.constraints, maxDegradation: 1 } }, { points, sweep, compiled: s.compiled, signal });
        s.sweeping.set(fkey, p);
        const mine = p;
        p.then(
          (f) => {
            s.fronts.set(fkey, f);
            if (s.sweeping.get(fkey) === mine) s.sweeping.delete(fkey);
          },
          () => {
            if (s.sweeping.get(fkey) === mine) s.sweeping.delete(fkey);
          },
        );
      }
      await p;
    }
    return this.explore(r);
  }

  /** Whether baselines(r) is answered from what is kept (all of them, without a search). */
  baselinesKnown(r: ExploreRequest = {}): boolean {
    const problem = this.problemFor(r);
    return this.shape(problem).baselined.has(problem.constraints.maxDegradation);
  }

  /**
   * The baselines under the request's constraints (computeBaselines, with their budget-independent part kept);
   * `fixedOnly`: all but bits-only (no search; not kept), unless all are known (baselinesKnown).
   */
  baselines(r: ExploreRequest = {}, opts: { fixedOnly?: boolean } = {}): BaselinePlan[] {
    const problem = this.problemFor(r);
    const s = this.shape(problem);
    const known = s.baselined.get(problem.constraints.maxDegradation);
    if (known) return known;
    s.baselines ??= prepareBaselines(problem, s.compiled);
    const all = Object.values(computeBaselines(problem, s.baselines, opts)).filter((b) => b !== null);
    return opts.fixedOnly ? all : remember(s.baselined, problem.constraints.maxDegradation, all);
  }
}
