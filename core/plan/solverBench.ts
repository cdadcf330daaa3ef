/**
 * Solver timings for `npm run bench` (the lead prints them): a ResNet-50-scale problem (60 layers, 7 weight
 * precisions, all 61 cuts, 4 activation precisions, SLO and memory on), medians after warm-up; the same problem in
 * a general MIP solver when one is passed in (core does not depend on HiGHS: pass `await (await import('highs'))
 * .default()`); a 50-point Pareto front; the offline plan table (build) and the online lookup.
 */
import type { LinkParams, PlanningProblem } from '../api/planning.js';
import { median, quantile } from '../util/stats.js';
import { toCplexLp } from './mipModel.js';
import { paretoFront } from './pareto.js';
import { evaluatePlan } from './planCost.js';
import { buildPlanTable, lookupPlan } from './planTable.js';
import { randomProblem } from './randomProblem.js';
import { solve } from './solver.js';

/** The subset of highs-js's one-shot API used here. */
export interface MipSolverLike {
  solve(lp: string, options?: Record<string, unknown>): { Status: string; ObjectiveValue: number; Columns: Record<string, { Primal: number }> };
}

export interface SolverBench {
  problem: string;
  /** One fixed ResNet-50-scale problem, solved `runs` times. */
  singleSolve: { medianMs: number; p90Ms: number; runs: number; subproblems: number; nodes: number; cut: number };
  /** 4 x `seeds` random ResNet-50-scale problems (with/without SLO, with/without memory), median of 3 solves each. */
  randomProblems: { count: number; medianMs: number; p90Ms: number; maxMs: number };
  pareto?: { medianMs: number; runs: number; points: number; plans: number; solves: number };
  planTable?: { buildMs: number; entries: number; links: number; levels: number; cuts: number; lookupMedianUs: number };
  mip?: { medianMs: number; runs: number; ratio: number; sameOptimum: boolean; relDiff: number };
}

export const BENCH_PROBLEM_SEED = 113;

/**
 * HiGHS options for an exact answer: zero gaps and tolerances tighter than the default. At 1e-9 HiGHS stopped short
 * of the optimum on one of 100 random problems (8e-7 relative); at 1e-10 it agreed on all of them. (The LP's
 * objective is also normalised, see mipModel.ts: a cost-only objective of 1e-8 was otherwise 0.65% off.)
 */
export const MIP_OPTIONS = {
  mip_rel_gap: 0,
  mip_abs_gap: 0,
  mip_feasibility_tolerance: 1e-10,
  primal_feasibility_tolerance: 1e-10,
  dual_feasibility_tolerance: 1e-10,
  output_flag: false,
};

/** The fixed benchmark problem (seeded; its optimum cuts after layer 21 with a binding 1% budget). */
export function benchProblem(): PlanningProblem {
  return randomProblem(BENCH_PROBLEM_SEED, {
    layers: 60,
    options: 7,
    actOptions: 4,
    withSlo: true,
    withMemory: true,
    headCached: false,
    objective: { latency: 1, energy: 10, cost: 1000 },
    maxDegradation: 0.01,
  });
}

function time<T>(f: () => T): { ms: number; value: T } {
  const t0 = performance.now();
  const value = f();
  return { ms: performance.now() - t0, value };
}

export interface BenchOptions {
  /** Timed solves of the benchmark problem (default 31). */
  runs?: number;
  /** Random problems per variant (default 20). */
  seeds?: number;
  /** Timed Pareto fronts (default 5; 0 skips the front). */
  paretoRuns?: number;
  /** Build the plan table (default true). */
  table?: boolean;
  /** A MIP solver for the comparison (highs-js's loaded module). */
  mip?: MipSolverLike;
  /** Timed MIP solves (default 3). */
  mipRuns?: number;
}

export function benchSolver(opts: BenchOptions = {}): SolverBench {
  const runs = opts.runs ?? 31;
  const seeds = opts.seeds ?? 20;
  const problem = benchProblem();
  // Warm-up (JIT) on other problems and on this one, then the timed runs.
  for (let s = 0; s < 10; s++) solve(randomProblem(900 + s, { layers: 60, options: 7, actOptions: 4, withSlo: s % 2 === 0, withMemory: s % 3 === 0 }));
  for (let s = 0; s < 10; s++) solve(problem);
  const single = Array.from({ length: runs }, () => time(() => solve(problem)));
  const last = single[single.length - 1].value;
  if (last.status !== 'optimal') throw new Error('benchmark problem is infeasible');

  const perProblem: number[] = [];
  for (let s = 1; s <= seeds; s++) {
    for (const [withSlo, withMemory] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const p = randomProblem(3000 + s, { layers: 60, options: 7, actOptions: 4, withSlo, withMemory });
      perProblem.push(median([0, 1, 2].map(() => time(() => solve(p)).ms)));
    }
  }

  const out: SolverBench = {
    problem: `random seed ${BENCH_PROBLEM_SEED}: ${problem.layers.length} layers x 7 precisions, ${problem.cuts.length} cuts x 4 activation precisions, SLO ${problem.constraints.sloMs!.toFixed(0)} ms, memory ${(problem.device.memoryBytes / 2 ** 20).toFixed(0)} MiB, budget 1%`,
    singleSolve: {
      medianMs: median(single.map((s) => s.ms)),
      p90Ms: quantile(single.map((s) => s.ms), 0.9),
      runs,
      subproblems: last.stats.subproblems,
      nodes: last.stats.nodes,
      cut: last.plan.cut,
    },
    randomProblems: { count: perProblem.length, medianMs: median(perProblem), p90Ms: quantile(perProblem, 0.9), maxMs: Math.max(...perProblem) },
  };

  const paretoRuns = opts.paretoRuns ?? 5;
  if (paretoRuns > 0) {
    paretoFront(problem, { points: 50 }); // warm-up
    const fronts = Array.from({ length: paretoRuns }, () => time(() => paretoFront(problem, { points: 50 })));
    const front = fronts[0].value;
    out.pareto = { medianMs: median(fronts.map((f) => f.ms)), runs: paretoRuns, points: 50, plans: front.plans.length, solves: front.stats.solves };
  }

  if (opts.table ?? true) {
    const links: LinkParams[] = [
      { name: 'wifi', uplinkBps: 50e6, downlinkBps: 100e6, rttMs: 5 },
      { name: 'lte', uplinkBps: 10e6, downlinkBps: 30e6, rttMs: 40 },
      { name: '3g', uplinkBps: 1e6, downlinkBps: 4e6, rttMs: 120 },
    ];
    const levels = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05];
    const table = buildPlanTable(problem, { cuts: 'all', accuracyLevels: levels, links });
    const lookups: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const budget = 0.0005 + (i % 100) * 0.0005;
      const t0 = performance.now();
      for (let j = 0; j < 100; j++) lookupPlan(table, links[(i + j) % 3].name, budget);
      lookups.push(((performance.now() - t0) / 100) * 1000);
    }
    out.planTable = { buildMs: table.stats.buildMs, entries: table.entries.length, links: links.length, levels: levels.length, cuts: table.cuts.length, lookupMedianUs: median(lookups) };
  }

  if (opts.mip) {
    const model = toCplexLp(problem);
    const mipRuns = Math.max(1, opts.mipRuns ?? 3);
    const sols = Array.from({ length: mipRuns }, () =>
      time(() => opts.mip!.solve(model.lp, MIP_OPTIONS)),
    );
    const sol = sols[0].value;
    let relDiff = Infinity;
    if (sol.Status === 'Optimal') {
      const c = model.decode(sol.Columns);
      const plan = evaluatePlan(problem, c.cut, c.bits, c.activationBits);
      relDiff = Math.abs(plan.objective - last.plan.objective) / Math.abs(last.plan.objective);
      
    }
    const mipMs = median(sols.map((s) => s.ms));
    out.mip = { medianMs: mipMs, runs: mipRuns, ratio: mipMs / out.singleSolve.medianMs, sameOptimum: relDiff <= 1e-9, relDiff };
  }
  return out;
}
