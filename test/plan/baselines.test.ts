/**
 * (e) The cost model and the baselines on the two-layer problem of tinyProblem.ts, computed by hand.
 * Uplink 8 Mbit/s: bytes / 1000 ms; downlink 16 Mbit/s: bytes / 2000 ms; RTT 10 ms (5 ms each way);
 * result 400 B: 5 + 0.2 = 5.2 ms; objective = latency + 10 * energy + 1000 * cost.
 */
import { describe, expect, it } from 'vitest';
import { isCoreError } from '../../core/api/errors.js';
import { compareToBaselines, computeBaselines } from '../../core/plan/baselines.js';
import { evaluatePlan } from '../../core/plan/planCost.js';
import { solve } from '../../core/plan/solver.js';
import { mulberry32 } from '../../core/util/random.js';
import { randomProblem } from './randomProblem.js';
import { tinyProblem } from './tinyProblem.js';

describe('cost model, by hand', () => {
  it('device only, FP32', () => {
    const p = evaluatePlan(tinyProblem(), 2, [32, 32], null);
    // download 12000 B = 6 ms; compute 10 + 20 ms; nothing sent
    expect(p.breakdownMs).toEqual({ download: 6, device: 30, uplink: 0, server: 0, result: 0 });
    expect(p.latencyMs).toBe(36);
    expect(p.energyJ).toBeCloseTo(0.06 + (1 * 6) / 1000, 15); // compute 0.02 + 0.04, receive 1 W x 6 ms
    expect(p.costUsd).toBe(0);
    expect(p.objective).toBeCloseTo(36 + 10 * 0.066, 12);
    expect(p.headWeightBytes).toBe(12000);
    expect(p.deviceMemoryBytes).toBe(12000 + 6000);
    expect(p.payload.computation).toBe(1);
    expect(p.payload.communication).toBeCloseTo(12000 / 72000, 15);
  });

  it('cut after conv1, 8-bit weights, 8-bit activations', () => {
    const p = evaluatePlan(tinyProblem(), 1, [8], 8);
    // download 1000 B = 0.5 ms; compute 4 ms; uplink 5 + 5000 B = 10 ms; server 2 ms; result 5.2 ms
    expect(p.breakdownMs.download).toBeCloseTo(0.5, 15);
    expect(p.breakdownMs.uplink).toBeCloseTo(10, 15);
    expect(p.breakdownMs.result).toBeCloseTo(5.2, 15);
    expect(p.latencyMs).toBeCloseTo(21.7, 12);
    // 0.008 J compute + (2 W x 10 ms + 1 W x (0.5 + 5.2) ms + 0.5 W x 2 ms) / 1000
    expect(p.energyJ).toBeCloseTo(0.008 + 0.0267, 15);
    expect(p.costUsd).toBeCloseTo(0.001 * 0.002, 18);
    expect(p.degradation).toBeCloseTo(0.001 + 0.003, 15);
    expect(p.objective).toBeCloseTo(21.7 + 0.347 + 0.002, 12);
    expect(p.payload.computation).toBeCloseTo((1000 * 8) / (4000 * 32), 15);
    expect(p.payload.communication).toBeCloseTo((1000 + 5000) / 72000, 15);
  });

  it('the headCached flag removes the download', () => {
    const prob = tinyProblem();
    prob.constraints.headCached = true;
    const p = evaluatePlan(prob, 2, [32, 32], null);
    expect(p.breakdownMs.download).toBe(0);
    expect(p.latencyMs).toBe(30);
    expect(p.payload.communication).toBe(0);
  });

  it('rejects plans that name options the problem does not have', () => {
    const prob = tinyProblem();
    for (const f of [() => evaluatePlan(prob, 3, [32, 32, 32], null), () => evaluatePlan(prob, 1, [4], 32), () => evaluatePlan(prob, 1, [8], null), () => evaluatePlan(prob, 2, [8, 8], 8)]) {
      try {
        f();
        expect.unreachable();
      } catch (e) {
        expect(isCoreError(e) && e.code).toBe('plan-invalid');
      }
    }
  });

  it('the solver picks the hand-computed optimum (budget 0.25%: device only, conv1 FP32, fc 8-bit)', () => {
    const prob = tinyProblem();
    prob.constraints.maxDegradation = 0.0025;
    const r = solve(prob);
    expect(r.status).toBe('optimal');
    if (r.status !== 'optimal') return;
    expect([r.plan.cut, ...r.plan.bits]).toEqual([2, 32, 8]);
    // download 6000 B = 3 ms, compute 18 ms; energy 0.02 + 0.016 + 0.003
    expect(r.plan.latencyMs).toBeCloseTo(21, 12);
    expect(r.plan.objective).toBeCloseTo(21 + 10 * 0.039, 12);
  });
});

describe('baselines', () => {
  it('on the tiny problem, by hand', () => {
    const b = computeBaselines(tinyProblem());
    expect([b['device-fp32']!.cut, ...b['device-fp32']!.bits]).toEqual([2, 32, 32]);
    expect(b['device-fp32']!.objective).toBeCloseTo(36.66, 12);
    expect([b['device-int8']!.cut, ...b['device-int8']!.bits]).toEqual([2, 8, 8]);
    // download 3000 B = 1.5 ms, compute 12 ms; energy 0.024 + 0.0015
    expect(b['device-int8']!.latencyMs).toBeCloseTo(13.5, 12);
    expect(b['device-int8']!.objective).toBeCloseTo(13.5 + 0.255, 12);
    expect(b['device-int8']!.degradation).toBeCloseTo(0.003, 15);
    // full offload sends the FP32 input (the only lossless option): 5 + 60 ms up, 3 ms server, 5.2 ms result
    const off = b['full-offload']!;
    expect([off.cut, off.activationBits]).toEqual([0, 32]);
    expect(off.latencyMs).toBeCloseTo(73.2, 12);
    expect(off.energyJ).toBeCloseTo((2 * 65 + 1 * 5.2 + 0.5 * 3) / 1000, 15);
    expect(off.costUsd).toBeCloseTo(3e-6, 18);
    expect(off.objective).toBeCloseTo(73.2 + 1.367 + 0.003, 12);
    // Neurosurgeon (FP32): offload 74.57, cut after conv1 44.984, device only 36.66 -> device only
    expect(b.neurosurgeon!.cut).toBe(2);
    expect(b.neurosurgeon!.objective).toBeCloseTo(36.66, 12);
    // uniform 8-bit: offload 28.67, cut after conv1 22.049, device only 13.755 -> device only
    expect(b['uniform8-best-cut']!.cut).toBe(2);
    expect(b['uniform8-best-cut']!.objective).toBeCloseTo(13.755, 12);
    // bits only under 0.5%: [8, 8] (0.3%) is allowed and cheapest
    expect(b['bits-only']!.bits).toEqual([8, 8]);
    for (const x of Object.values(b)) expect(x!.feasible.all).toBe(true);
    expect(b['device-fp32']!.feasible.latency).toBeNull();
  });

  it('flags infeasible baselines and keeps the best cut feasible when one exists', () => {
    const prob = tinyProblem();
    prob.constraints.maxDegradation = 0.0025;
    prob.constraints.sloMs = 40;
    const b = computeBaselines(prob);
    expect(b['device-int8']!.feasible).toEqual({ degradation: false, latency: true, memory: true, all: false });
    expect(b['full-offload']!.feasible.latency).toBe(false);
    // uniform 8-bit: device only (0.3%) and conv1 cut (0.4%) break the budget, offload 8-bit (0.4%) too: flagged
    expect(b['uniform8-best-cut']!.feasible.all).toBe(false);
    // bits only: [32, 8] (0.2%, 21 ms) is the optimum under the budget
    expect(b['bits-only']!.bits).toEqual([32, 8]);
    expect(b['bits-only']!.feasible.all).toBe(true);
  });

  it('compareToBaselines gives plan/baseline ratios', () => {
    const prob = tinyProblem();
    prob.constraints.maxDegradation = 0.0025;
    const r = solve(prob);
    if (r.status !== 'optimal') throw new Error('expected optimal');
    const cmp = compareToBaselines(r.plan, computeBaselines(prob));
    const fp32 = cmp.find((c) => c.baseline === 'device-fp32')!;
    expect(fp32.latencyRatio).toBeCloseTo(21 / 36, 12);
    expect(fp32.energyRatio).toBeCloseTo(0.039 / 0.066, 12);
    expect(fp32.computationPayloadRatio).toBeCloseTo((1000 * 32 + 3000 * 8) / (4000 * 32), 12);
    expect(fp32.degradationDiff).toBeCloseTo(0.002, 15);
    expect(fp32.costRatio).toBe(1); // both 0
    const off = cmp.find((c) => c.baseline === 'full-offload')!;
    expect(off.costRatio).toBe(0);
  });

  it('agree with evaluatePlan of their documented choices on random problems', () => {
    const rand = mulberry32(3);
    for (let s = 0; s < 30; s++) {
      const p = randomProblem(800 + s, { layers: 2 + Math.floor(rand() * 5), options: 2 + Math.floor(rand() * 4), actOptions: 1 + Math.floor(rand() * 3), withSlo: rand() < 0.5, withMemory: rand() < 0.5 });
      const b = computeBaselines(p);
      const L = p.layers.length;
      const fp32 = evaluatePlan(p, L, p.layers.map((l) => Math.max(...l.options.map((o) => o.bits))), null);
      expect(b['device-fp32']!.objective).toBe(fp32.objective);
      for (const x of Object.values(b)) {
        if (!x) continue;
        const again = evaluatePlan(p, x.cut, x.bits, x.activationBits);
        expect(x.objective).toBe(again.objective);
        expect(x.latencyMs).toBe(again.latencyMs);
      }
      // Neurosurgeon is the best feasible FP32 cut, never worse than device-only FP32 when that is feasible
      if (b['device-fp32']!.feasible.all) expect(b.neurosurgeon!.objective).toBeLessThanOrEqual(b['device-fp32']!.objective);
      // the joint optimum is never worse than a feasible baseline
      const r = solve(p);
      if (r.status === 'optimal') {
        for (const x of Object.values(b)) if (x && x.feasible.all && (!p.constraints.allowedBits || x.baseline === 'bits-only')) expect(r.plan.objective).toBeLessThanOrEqual(x.objective * (1 + 1e-12));
      }
    }
  });
});
