import { describe, expect, it } from 'vitest';
import { DEVICE_PRESETS } from '../../core/plan/devices.js';
import { applyStageFit, fitStage } from '../../core/plan/profileRefit.js';
import { deviceTimeMs } from '../../core/plan/problemBuilder.js';

describe('profile refit', () => {
  it('recovers an affine relation between predicted layer time and measured stage time', () => {
    const samples = [0.1, 0.5, 1, 2, 4, 8].map((x) => ({ layerSumMs: x, measuredMs: 1.7 * x + 0.4 }));
    const f = fitStage(samples);
    expect(f.scale).toBeCloseTo(1.7, 9);
    expect(f.overheadMs).toBeCloseTo(0.4, 9);
    expect(f.fitted.worst).toBeLessThan(1e-9);
    expect(f.leaveOneOut!.worst).toBeLessThan(1e-9);
  });

  it('never returns a negative overhead or scale', () => {
    // Measured below the line through the origin: an affine fit would want a negative intercept.
    const f = fitStage([1, 2, 4].map((x) => ({ layerSumMs: x, measuredMs: 2 * x - 0.5 })));
    expect(f.scale).toBeGreaterThan(0);
    expect(f.overheadMs).toBeGreaterThanOrEqual(0);
  });

  it('folds the fit into the profile: layer times scale, the per-inference overhead is the intercept', () => {
    const d = DEVICE_PRESETS[0];
    const layer = { position: 1, name: 'c', opType: 'Conv', macs: 1e6, bytes: 1e4, outElements: 1e4, weightBytes: 100 };
    const after = applyStageFit(d, { scale: 2, overheadMs: 0.3, samples: 5 }, 'fitted');
    expect(after.name).toBe('fitted');
    expect(deviceTimeMs(after, layer, 32)).toBeCloseTo(2 * deviceTimeMs(d, layer, 32), 9);
    expect(after.inferenceOverheadMs).toBe(0.3);
  });
});
