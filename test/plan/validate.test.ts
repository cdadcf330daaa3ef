/** (f) validateProblem: clear messages naming the first bad path. */
import { describe, expect, it } from 'vitest';
import { isCoreError } from '../../core/api/errors.js';
import { validateProblem } from '../../core/plan/solver.js';
import { patchProblem } from '../../core/plan/validate.js';
import { tinyProblem } from './tinyProblem.js';

function messageOf(mutate: (p: any) => void): string {
  const p: any = structuredClone(tinyProblem());
  mutate(p);
  try {
    validateProblem(p);
  } catch (e) {
    if (!isCoreError(e)) throw e;
    expect(e.code).toBe('plan-problem-invalid');
    return e.message;
  }
  throw new Error('expected validateProblem to throw');
}

describe('validateProblem', () => {
  it('accepts a valid problem and fills defaults', () => {
    const p: any = structuredClone(tinyProblem());
    delete p.constraints.enforceMemory;
    delete p.constraints.headCached;
    const v = validateProblem(p);
    expect(v.constraints.enforceMemory).toBe(true);
    expect(v.constraints.headCached).toBe(false);
  });

  it('a layer without options', () => {
    expect(messageOf((p) => (p.layers[1].options = []))).toBe(
      'Planning problem is inconsistent: layers[1].options is empty (every layer needs at least one option; a layer without weights has a single FP32 option). Fix the problem file.',
    );
  });

  it('a cut position out of range', () => {
    expect(messageOf((p) => (p.cuts[2].position = 7))).toBe(
      'Planning problem is inconsistent: cuts[2].position is 7, expected 2 (cuts[i].position must be i: cut positions run 0..L). Fix the problem file.',
    );
    expect(messageOf((p) => p.cuts.pop())).toMatch(/cuts: 2 cuts for 2 layers; expected 3 \(positions 0\.\.L\)/);
  });

  it('a budget of 1.5', () => {
    expect(messageOf((p) => (p.constraints.maxDegradation = 1.5))).toBe(
      'Planning problem is inconsistent: constraints.maxDegradation is 1.5; the degradation budget is a fraction of top-1 accuracy between 0 and 1 (0.01 = one percentage point). Fix the problem file.',
    );
  });

  it('7 bits', () => {
    expect(messageOf((p) => (p.layers[0].options[1].bits = 7))).toBe(
      'Planning problem is inconsistent: layers[0].options[1].bits is 7; allowed precisions are 32, 16, 8, 6, 5, 4, 3, 2 bits. Fix the problem file.',
    );
    expect(messageOf((p) => (p.constraints.allowedBits = [8, 7]))).toContain('constraints.allowedBits[1] is 7; allowed precisions are');
  });

  it('a negative bandwidth', () => {
    expect(messageOf((p) => (p.link.uplinkBps = -5))).toBe(
      'Planning problem is inconsistent: link.uplinkBps is -5; a bandwidth must be a positive number of bits per second. Fix the problem file.',
    );
  });

  it('other mistakes: missing fields, wrong types, duplicate precisions, not an object', () => {
    expect(messageOf((p) => delete p.device)).toContain('device is missing (expected object)');
    expect(messageOf((p) => (p.layers[0].macs = 'many'))).toContain('layers[0].macs is "many"; expected number');
    expect(messageOf((p) => (p.layers[1].options[1].bits = 32))).toContain('layers[1].options has two 32-bit options');
    expect(messageOf((p) => (p.objective = { latency: 0, energy: 0, cost: 0 }))).toContain('objective weights are all zero');
    expect(messageOf((p) => (p.layers[0].options[0].weightBytes = -1))).toContain('layers[0].options[0].weightBytes is -1; it must be zero or positive');
    expect(() => validateProblem(42)).toThrow(/the document is 42, expected a JSON object/);
  });
});

describe('patchProblem', () => {
  it('replaces the given parts, checked with their schemas (defaults filled in), as validateProblem of the patched document', () => {
    const base = validateProblem(tinyProblem());
    const link = { ...base.link, uplinkBps: base.link.uplinkBps * 2 };
    const patched = patchProblem(base, { link, constraints: { maxDegradation: 0.05 } });
    expect(JSON.stringify(patched)).toBe(JSON.stringify(validateProblem({ ...base, link, constraints: { maxDegradation: 0.05 } })));
    expect(patched.layers).toBe(base.layers);
    expect(base.link.uplinkBps).toBe(link.uplinkBps / 2);
  });

  it('refuses a bad part, naming it, and parts that are not patchable', () => {
    const base = validateProblem(tinyProblem());
    const err = (patch: unknown) => {
      try {
        patchProblem(base, patch);
      } catch (e) {
        return isCoreError(e) ? `${e.code}: ${e.message}` : String(e);
      }
      return 'no error';
    };
    expect(err({ link: { ...base.link, uplinkBps: 0 } })).toMatch(/^plan-problem-invalid: .*link\.uplinkBps is 0; a bandwidth must be a positive/);
    expect(err({ objective: { latency: 0, energy: 0, cost: 0 } })).toMatch(/^plan-problem-invalid: .*objective weights are all zero/);
    expect(err({ layers: [] })).toMatch(/^plan-problem-invalid: .*layers/);
    expect(err(null)).toMatch(/^plan-problem-invalid: .*the patch is null/);
  });
});
