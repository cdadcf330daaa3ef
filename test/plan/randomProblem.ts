/** Seeded random planning problems for the plan tests (the generator lives in core so the bench can use it too). */
export { randomProblem, type RandomProblemOptions } from '../../core/plan/randomProblem.js';
