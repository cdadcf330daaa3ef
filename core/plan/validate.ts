/**
 * Parsing a planning problem (a JSON document, e.g. from `--dump-problem`) with clear messages: the first bad path,
 * in words, what it holds and what is expected. Throws CoreError('plan-problem-invalid').
 */
import { CoreError } from '../api/errors.js';
import { PlanningProblemSchema, ProblemPatchSchema, WEIGHT_BITS, type PlanningProblem } from '../api/planning.js';

const PREFIX = 'Planning problem is inconsistent: ';
const SUFFIX = ' Fix the problem file.';

type PathPart = string | number | symbol;

function pathText(path: readonly PathPart[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s ? `.${String(p)}` : String(p);
  }
  return s || 'the document';
}

function valueAt(root: unknown, path: readonly PathPart[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p as PropertyKey];
  }
  return v;
}

function show(v: unknown): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v !== null && typeof v === 'object') return 'an object';
  return String(v);
}

const ALLOWED_BITS = WEIGHT_BITS.join(', ');

interface IssueLike {
  code: string;
  path: PathPart[];
  message: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  origin?: string;
  expected?: string;
  values?: unknown[];
}

function describeIssue(root: unknown, issue: IssueLike): string {
  const path = issue.path;
  const where = pathText(path);
  const last = path[path.length - 1];
  const value = valueAt(root, path);
  const shown = show(value);
  switch (issue.code) {
    case 'too_small':
      if (issue.origin === 'array') {
        if (last === 'options' && path[0] === 'layers') return `${where} is empty (every layer needs at least one option; a layer without weights has a single FP32 option).`;
        if (last === 'options' && path[0] === 'cuts') return `${where} is empty (every cut needs at least one way to send its tensors).`;
        if (last === 'layers') return `${where} is empty (the model needs at least one layer).`;
        if (last === 'cuts') return `${where} has ${Array.isArray(value) ? value.length : 0} entries; it needs L + 1 (positions 0..L).`;
        if (last === 'allowedBits' || last === 'allowedActivationBits') return `${where} is empty (leave it out to allow every precision).`;
        return `${where} is empty.`;
      }
      if (last === 'uplinkBps' || last === 'downlinkBps') return `${where} is ${shown}; a bandwidth must be a positive number of bits per second.`;
      if (last === 'maxDegradation') return `${where} is ${shown}; the degradation budget is a fraction of top-1 accuracy between 0 and 1 (0.01 = one percentage point).`;
      if (issue.minimum === 0 && issue.message.includes('>0')) return `${where} is ${shown}; it must be positive.`;
      return `${where} is ${shown}; it must be zero or positive.`;
    case 'too_big':
      if (last === 'maxDegradation') return `${where} is ${shown}; the degradation budget is a fraction of top-1 accuracy between 0 and 1 (0.01 = one percentage point).`;
      return `${where} is ${shown}; it must be at most ${String(issue.maximum)}.`;
    case 'invalid_union':
      if (last === 'bits' || path.includes('allowedBits') || path.includes('allowedActivationBits')) {
        return `${where} is ${shown}; allowed precisions are ${ALLOWED_BITS} bits.`;
      }
      return `${where} is ${shown}, which is not an accepted value.`;
    case 'invalid_type':
      return value === undefined ? `${where} is missing (expected ${issue.expected ?? 'a value'}).` : `${where} is ${shown}; expected ${issue.expected ?? 'another type'}.`;
    case 'invalid_value':
      return `${where} is ${shown}; expected ${(issue.values ?? []).map((v) => String(v)).join(' or ')}.`;
    case 'custom': {
      if (last === 'position' && path[0] === 'cuts') return `${where} is ${shown}, expected ${String(path[1])} (cuts[i].position must be i: cut positions run 0..L).`;
      if (last === 'position' && path[0] === 'layers') return `${where} is ${shown}, expected ${Number(path[1]) + 1} (layers[i].position must be i + 1).`;
      if (last === 'objective') return 'objective weights are all zero; at least one of latency, energy, cost must be positive.';
      return `${where}: ${issue.message}.`;
    }
    case 'unrecognized_keys':
      return `${where}: ${issue.message}.`;
    default:
      return `${where}: ${issue.message}.`;
  }
}

/**
 * Parses and checks a planning problem. Beyond the schema: each precision appears at most once among a layer's
 * options and among a cut's options (plans name options by their bits).
 */
export function validateProblem(json: unknown): PlanningProblem {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CoreError('plan-problem-invalid', `${PREFIX}the document is ${show(json)}, expected a JSON object.${SUFFIX}`);
  }
  const r = PlanningProblemSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0] as unknown as IssueLike;
    throw new CoreError('plan-problem-invalid', `${PREFIX}${describeIssue(json, issue)}${SUFFIX}`, { path: pathText(issue.path) });
  }
  const p = r.data;
  const dup = (opts: readonly { bits: number }[]): number | null => {
    const seen = new Set<number>();
    for (const o of opts) {
      if (seen.has(o.bits)) return o.bits;
      seen.add(o.bits);
    }
    return null;
  };
  for (let i = 0; i < p.layers.length; i++) {
    const b = dup(p.layers[i].options);
    if (b !== null) throw new CoreError('plan-problem-invalid', `${PREFIX}layers[${i}].options has two ${b}-bit options; each precision may appear once per layer.${SUFFIX}`, { path: `layers[${i}].options` });
  }
  for (let c = 0; c < p.cuts.length; c++) {
    const b = dup(p.cuts[c].options);
    if (b !== null) throw new CoreError('plan-problem-invalid', `${PREFIX}cuts[${c}].options has two ${b}-bit options; each precision may appear once per cut.${SUFFIX}`, { path: `cuts[${c}].options` });
  }
  return p;
}

/**
 * A checked problem with some of its small top-level parts replaced (plan.register's `patch`: device, link, server,
 * objective, constraints). Each part is parsed with its own schema (defaults filled in as for a whole problem), so
 * the result is what validateProblem gives the patched document; the layers and cuts are the base's, already
 * checked, and the problem's consistency checks involve only them. Throws CoreError('plan-problem-invalid').
 */
export function patchProblem(base: PlanningProblem, patch: unknown): PlanningProblem {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    throw new CoreError('plan-problem-invalid', `${PREFIX}the patch is ${show(patch)}, expected a JSON object.${SUFFIX}`);
  }
  const r = ProblemPatchSchema.safeParse(patch);
  if (!r.success) {
    const issue = r.error.issues[0] as unknown as IssueLike;
    throw new CoreError('plan-problem-invalid', `${PREFIX}${describeIssue(patch, issue)}${SUFFIX}`, { path: pathText(issue.path) });
  }
  const out: PlanningProblem = { ...base };
  for (const [k, v] of Object.entries(r.data)) if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  return out;
}
