/**
 * Seeded random planning problems for tests and benchmarks (test/plan/randomProblem.ts re-exports this; it lives in
 * core so that `benchSolver` can use it without importing from test/).
 *
 * The data are realistic in shape and monotone-ish: fewer weight bits mean less device time, fewer bytes and more
 * degradation (noise power falls 4x per extra bit, SCIENCE.md "Accuracy degradation"), but every number carries
 * multiplicative noise so that exact ties are rare. Sizes are loosely those of a CNN: activations shrink along the
 * network, weights grow.
 */
import type { Objective, PlanningProblem } from '../api/planning.js';
import { mulberry32 } from '../util/random.js';
import { evaluatePlan } from './planCost.js';

export interface RandomProblemOptions {
  /** L, the number of layers. */
  layers: number;
  /** Weight precisions per layer (1..8); FP32 is always one of them. */
  options: number;
  /** Activation precisions per cut (1..6); FP32 is always one of them. */
  actOptions: number;
  /** Set an SLO (random, between 0.3x and 1.5x the latency of FP32 full offload). */
  withSlo?: boolean;
  /** Enforce a device memory (random, 5%-80% of FP32 weights + largest activation peak). */
  withMemory?: boolean;
  /** Default: random. */
  headCached?: boolean;
  /** Default: random (log-uniform 1e-4..0.05, sometimes 0). */
  maxDegradation?: number;
  /** Default: random weights, some of them zero. */
  objective?: Objective;
}

const WEIGHT_CHOICES = [16, 8, 6, 5, 4, 3, 2];
const ACT_CHOICES = [16, 8, 6, 4, 2];

export function randomProblem(seed: number, o: RandomProblemOptions): PlanningProblem {
  const rand = mulberry32(seed);
  const U = (a: number, b: number): number => a + (b - a) * rand();
  const logU = (a: number, b: number): number => Math.exp(U(Math.log(a), Math.log(b)));
  const noise = (s: number): number => 1 + s * (2 * rand() - 1);
  const pick = (from: number[], n: number): number[] => {
    const pool = [...from];
    const out: number[] = [];
    while (out.length < n && pool.length) out.push(pool.splice(Math.floor(rand() * pool.length), 1)[0]);
    return out;
  };
  // Realistic precision sets: the 7-option case is exactly FP32, 8, 6, 5, 4, 3, 2.
  const weightBits = o.options >= 7 ? [32, 8, 6, 5, 4, 3, 2, ...(o.options >= 8 ? [16] : [])] : [32, ...pick(WEIGHT_CHOICES, o.options - 1)];
  weightBits.sort((a, b) => b - a);

  const L = o.layers;
  const devMacsPerMs = logU(5e6, 5e7);
  const powerComputeW = U(2, 6);
  const layers: PlanningProblem['layers'] = [];
  let modelWeightBytes = 0;
  for (let i = 0; i < L; i++) {
    const params = Math.round(logU(1e3, 3e6));
    const macs = Math.round(params * logU(1, 3000));
    const channels = Math.round(Math.sqrt(params) / 3) + 1;
    const t32 = (macs / devMacsPerMs) * noise(0.2) + 0.01;
    const sens = logU(0.05, 20);
    const options = weightBits.map((b) => {
      const speed = b >= 32 ? 1 : b === 16 ? 0.6 : 0.25 + 0.02 * b;
      const deviceTimeMs = t32 * speed * (b >= 32 ? 1 : noise(0.05));
      const weightBytes = b >= 32 ? params * 4 : Math.ceil((params * b) / 8) + (b < 16 ? channels * 8 : 0);
      const degradation = b >= 32 ? 0 : b === 16 ? sens * 1e-7 * noise(0.3) : sens * 1e-6 * 4 ** (8 - b) * noise(0.3);
      return { bits: b, deviceTimeMs, deviceEnergyJ: (powerComputeW * deviceTimeMs / 1000) * noise(0.1), weightBytes, degradation };
    });
    modelWeightBytes += params * 4;
    layers.push({ name: `layer${i + 1}`, position: i + 1, opType: 'Conv', macs, serverTimeMs: (macs / (devMacsPerMs * logU(10, 40))) * noise(0.1) + 0.005, options });
  }

  const actBits = [32, ...pick(ACT_CHOICES, Math.max(0, o.actOptions - 1))].sort((a, b) => b - a);
  const inputElements = Math.round(logU(1e4, 6e5));
  const cuts: PlanningProblem['cuts'] = [];
  let peak = 0;
  for (let c = 0; c <= L; c++) {
    const elements = c === 0 ? inputElements : Math.max(10, Math.round(inputElements * Math.exp((-3 * c) / L) * logU(0.3, 3)));
    if (c > 0) peak = Math.max(peak, elements * 4 * 1.5);
    const actSens = logU(0.1, 5);
    cuts.push({
      position: c,
      tensors: [c === 0 ? 'input' : `t${c}`],
      elements,
      peakActivationBytes: c === 0 ? 0 : Math.round(peak),
      options: actBits.map((b) => ({
        bits: b,
        bytes: Math.ceil((elements * b) / 8) + (b < 32 ? 64 : 0),
        degradation: b >= 32 ? 0 : b === 16 ? 1e-6 * noise(0.3) : actSens * 1e-5 * 4 ** (8 - b) * noise(0.3),
      })),
    });
  }

  const zeroSome = (x: number): number => (rand() < 0.2 ? 0 : x);
  let objective = o.objective ?? { latency: zeroSome(U(0, 1)), energy: zeroSome(U(0, 200)), cost: zeroSome(U(0, 2e6)) };
  if (objective.latency + objective.energy + objective.cost <= 0) objective = { ...objective, latency: 1 };
  const maxDegradation = o.maxDegradation ?? (rand() < 0.1 ? 0 : logU(1e-4, 0.05));
  const headCached = o.headCached ?? rand() < 0.3;

  const problem: PlanningProblem = {
    version: 1,
    model: { name: `random-${seed}` },
    layers,
    cuts,
    inputBytes: inputElements * 4,
    resultBytes: 4000,
    modelWeightBytes,
    device: { name: 'random-device', powerComputeW, powerIdleW: U(0.2, 1), powerTxW: U(0.8, 3), powerRxW: U(0.5, 2), memoryBytes: 2 ** 40 },
    link: { name: 'random-link', uplinkBps: logU(2e6, 1e8), downlinkBps: logU(1e7, 3e8), rttMs: U(2, 60) },
    server: { name: 'random-server', pricePerSecondUsd: logU(1e-5, 1e-3) },
    objective,
    constraints: { maxDegradation, enforceMemory: false, headCached },
  };
  if (o.withMemory) {
    problem.constraints.enforceMemory = true;
    problem.device.memoryBytes = Math.round(U(0.05, 0.8) * (modelWeightBytes + peak));
  }
  if (o.withSlo) {
    const offload = evaluatePlan(problem, 0, [], 32);
    problem.constraints.sloMs = U(0.3, 1.5) * offload.latencyMs;
  }
  return problem;
}
