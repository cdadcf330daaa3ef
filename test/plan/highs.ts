/**
 * Loads HiGHS (highs-js, a devDependency). Its types describe a CommonJS module while Node's ESM import gets the
 * ESM build whose default export is the loader, hence the cast.
 */
import type { MipSolverLike } from '../../core/plan/solverBench.js';

export async function loadHighs(): Promise<MipSolverLike> {
  const mod = (await import('highs')) as unknown as { default: () => Promise<MipSolverLike> };
  return mod.default();
}
