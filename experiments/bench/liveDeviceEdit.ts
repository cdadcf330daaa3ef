/**
 * What a device/link edit of the ResNet-50-scale bench problem costs on the core, by part (prints medians):
 * registering whole vs by patch, validation, hashing, the front's sweep at several resolutions, one solve, the baselines.
 * Run: npx tsx experiments/bench/liveDeviceEdit.ts
 */
import { createHash } from 'node:crypto';
import { patchProblem, validateProblem } from '../../core/plan/validate.js';
import { ProblemPatchSchema, PlanningProblemSchema } from '../../core/api/planning.js';
import { ProblemExplorer } from '../../core/plan/explore.js';
import { paretoFront } from '../../core/plan/pareto.js';
import { benchProblem } from '../../core/plan/solverBench.js';
import { solve } from '../../core/plan/solver.js';

const base = benchProblem();
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const time = (f: () => unknown): number => {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
};
const edited = (i: number) => ({ ...base, link: { ...base.link, uplinkBps: base.link.uplinkBps * (0.5 + i * 0.15) } });
const rows: Record<string, number[]> = {};
const add = (k: string, ms: number) => (rows[k] ??= []).push(ms);
for (let i = 0; i < 8; i++) {
  const p = edited(i);
  add('validate', time(() => validateProblem(p)));
  // plan.register whole: the contract's parse of the argument, then validateProblem; by patch: the same for the patch.
  add('register whole: parse+validate+hash', time(() => createHash('sha256').update(JSON.stringify(validateProblem(PlanningProblemSchema.parse(JSON.parse(JSON.stringify(p)))))).digest('hex')));
  add('register patch: parse+patch+hash', time(() => createHash('sha256').update(JSON.stringify(patchProblem(base, ProblemPatchSchema.parse(JSON.parse(JSON.stringify({ link: p.link })))))).digest('hex')));
  add('hash', time(() => createHash('sha256').update(JSON.stringify(p)).digest('hex')));
  add('solve', time(() => solve(p)));
  for (const points of [50]) {
    let solves = 0;
    add(`paretoFront ${points}`, time(() => (solves = paretoFront({ ...p, constraints: { ...p.constraints, maxDegradation: 1 } }, { points }).stats.solves)));
    add(`  solves ${points}`, solves);
  }
  const ex = new ProblemExplorer(p);
  add('explorer.explore 50 (new)', time(() => ex.explore({ points: 50 })));
  add('explorer.baselines (new)', time(() => ex.baselines({})));
  {
    const t0 = performance.now();
    const q = validateProblem(JSON.parse(JSON.stringify(p)));
    add('  coarse edit: validate', performance.now() - t0);
    createHash('sha256').update(JSON.stringify(q)).digest('hex');
    const ex3 = new ProblemExplorer(q);
    const t1 = performance.now();
    ex3.explore({ points: 6, sweep: 'coarse' });
    add('  coarse edit: explore', performance.now() - t1);
    const t2 = performance.now();
    ex3.baselines({}, { fixedOnly: true });
    add('  coarse edit: baselines (fixed only)', performance.now() - t2);
    const t3 = performance.now();
    ex3.baselines({});
    add('  refine: baselines (all)', performance.now() - t3);
    add('coarse edit: core total (+ all baselines)', performance.now() - t0);
  }
  for (const points of [6, 8]) {
    const ex2 = new ProblemExplorer(p);
    add(`explorer.explore coarse ${points} (new)`, time(() => ex2.explore({ points, sweep: 'coarse' })));
    add(`  coarse ${points}: plans`, ex2.explore({ points, sweep: 'coarse' }).front.plans.length);
    add(`  full 50: plans`, ex.explore({ points: 50 }).front.plans.length);
  }
}
for (const [k, v] of Object.entries(rows)) console.log(`${k.padEnd(28)} median ${median(v).toFixed(1)}  max ${Math.max(...v).toFixed(1)}`);
