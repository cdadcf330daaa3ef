/**
 * A two-layer problem with round numbers, so that plans can be checked by hand (see baselines.test.ts).
 * Links: uplink 8 Mbit/s = 1 byte per microsecond (bytes / 1000 ms), downlink 16 Mbit/s (bytes / 2000 ms), RTT 10 ms.
 */
import type { PlanningProblem } from '../../core/api/planning.js';

export function tinyProblem(): PlanningProblem {
  return {
    version: 1,
    model: { name: 'tiny' },
    layers: [
      {
        name: 'conv1',
        position: 1,
        macs: 1000,
        serverTimeMs: 1,
        options: [
          { bits: 32, deviceTimeMs: 10, deviceEnergyJ: 0.02, weightBytes: 4000, degradation: 0 },
          { bits: 8, deviceTimeMs: 4, deviceEnergyJ: 0.008, weightBytes: 1000, degradation: 0.001 },
        ],
      },
      {
        name: 'fc',
        position: 2,
        macs: 3000,
        serverTimeMs: 2,
        options: [
          { bits: 32, deviceTimeMs: 20, deviceEnergyJ: 0.04, weightBytes: 8000, degradation: 0 },
          { bits: 8, deviceTimeMs: 8, deviceEnergyJ: 0.016, weightBytes: 2000, degradation: 0.002 },
        ],
      },
    ],
    cuts: [
      { position: 0, tensors: ['input'], elements: 15000, peakActivationBytes: 0, options: [{ bits: 32, bytes: 60000, degradation: 0 }, { bits: 8, bytes: 15000, degradation: 0.004 }] },
      { position: 1, tensors: ['conv1'], elements: 5000, peakActivationBytes: 5000, options: [{ bits: 32, bytes: 20000, degradation: 0 }, { bits: 8, bytes: 5000, degradation: 0.003 }] },
      { position: 2, tensors: ['fc'], elements: 100, peakActivationBytes: 6000, options: [{ bits: 32, bytes: 400, degradation: 0 }] },
    ],
    inputBytes: 60000,
    resultBytes: 400,
    modelWeightBytes: 12000,
    device: { name: 'tiny-device', powerComputeW: 2, powerIdleW: 0.5, powerTxW: 2, powerRxW: 1, memoryBytes: 1e6 },
    link: { name: 'tiny-link', uplinkBps: 8e6, downlinkBps: 16e6, rttMs: 10 },
    server: { name: 'tiny-server', pricePerSecondUsd: 0.001 },
    objective: { latency: 1, energy: 10, cost: 1000 },
    constraints: { maxDegradation: 0.005, enforceMemory: true, headCached: false },
  };
}
