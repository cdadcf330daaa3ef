/** benchSolver runs end to end (short settings) and its MIP comparison agrees; the real numbers come from `npm run bench`. */
import { describe, expect, it } from 'vitest';
import { benchSolver } from '../../core/plan/solverBench.js';
import { loadHighs } from './highs.js';

describe('benchSolver', () => {
  it('returns timings, and HiGHS finds the same optimum on the benchmark problem', async () => {
    const b = benchSolver({ runs: 11, seeds: 2, paretoRuns: 0, table: false, mip: await loadHighs(), mipRuns: 1 });
    console.log(
      `solver bench (short): single solve median ${b.singleSolve.medianMs.toFixed(2)} ms (cut ${b.singleSolve.cut}, ${b.singleSolve.nodes} nodes); ` +
        `random 60-layer problems median ${b.randomProblems.medianMs.toFixed(2)} ms, max ${b.randomProblems.maxMs.toFixed(1)} ms; ` +
        `HiGHS ${b.mip!.medianMs.toFixed(0)} ms (x${b.mip!.ratio.toFixed(0)} slower)`,
    );
    expect(b.mip!.sameOptimum).toBe(true);
    expect(b.singleSolve.medianMs).toBeGreaterThan(0);
  });
});
