import { describe, expect, it } from 'vitest';
import { crossModelError, fitPredictor, predictLatencyMs, predictionError, type LayerSample } from '../../core/plan/latencyPredictor.js';
import { mulberry32 } from '../../core/util/random.js';

const rand = mulberry32(11);

describe('latency predictor', () => {
  it('recovers an exact linear cost per op type', () => {
    const samples: LayerSample[] = [];
    for (let i = 0; i < 40; i++) {
      const macs = 1e5 + rand() * 1e8;
      const bytes = 1e3 + rand() * 1e6;
      samples.push({ model: `m${i % 4}`, opType: 'Conv', macs, bytes, latencyMs: 0.01 + macs * 2e-8 + bytes * 1e-7 });
      samples.push({ model: `m${i % 4}`, opType: 'Add', macs: 0, bytes, latencyMs: 0.004 + bytes * 3e-7 });
    }
    const p = fitPredictor(samples);
    expect(predictionError(p, samples).p90RelError).toBeLessThan(1e-6);
    expect(crossModelError(samples).p90RelError).toBeLessThan(1e-6);
    expect(predictLatencyMs(p, { opType: 'Conv', macs: 5e7, bytes: 5e5 })).toBeCloseTo(0.01 + 1 + 0.05, 6);
  });

  it('never predicts less time for a bigger layer, nor less than a microsecond', () => {
    // Small tensors cost more per byte than large ones (fixed per-op work): the fit bends, the prediction stays monotone.
    const samples: LayerSample[] = [];
    for (let i = 0; i < 60; i++) {
      const bytes = 2 ** (8 + rand() * 14);
      samples.push({ opType: 'Mul', macs: 0, bytes, latencyMs: 0.02 + 6e-8 * bytes - 3e-5 * Math.sqrt(bytes) + 0.002 * rand() });
    }
    const p = fitPredictor(samples);
    let last = 0;
    for (let b = 1; b < 2 ** 24; b *= 1.5) {
      const t = predictLatencyMs(p, { opType: 'Mul', macs: 0, bytes: b });
      expect(t).toBeGreaterThanOrEqual(last - 1e-15);
      expect(t).toBeGreaterThanOrEqual(1e-3);
      last = t;
    }
    expect(predictionError(p, samples).medianRelError).toBeLessThan(0.05);
  });

  it('falls back to the fit over all layers for an op type it never measured', () => {
    const samples: LayerSample[] = [1, 2, 3, 4].map((k) => ({ opType: 'Relu', macs: 0, bytes: k * 1e4, latencyMs: 0.001 * k }));
    const p = fitPredictor(samples);
    expect(predictLatencyMs(p, { opType: 'Sigmoid', macs: 0, bytes: 2e4 })).toBeCloseTo(predictLatencyMs(p, { opType: 'Relu', macs: 0, bytes: 2e4 }), 12);
  });
});
