/**
 * Settings cells: JSON documents the other cells read. One zod schema checks them in the page (errors shown in
 * place) and, converted to JSON Schema, drives Monaco's completion and inline markers.
 */
import { z } from 'zod';
import type { CoreApi } from '../api/contract.js';
import { ConstraintsSchema, ObjectiveSchema } from '../api/planning.js';

export const PlanSettingsSchema = z
  .strictObject({
    model: z.string().min(1).optional().describe('Model name (as in models.list), e.g. "fmnist-resnet".'),
    device: z.string().min(1).optional().describe('Device profile, e.g. "raspberry-pi-4b".'),
    link: z.string().min(1).optional().describe('Link profile, e.g. "lte".'),
    server: z.string().min(1).optional().describe('Server profile (default "a100").'),
    estimator: z.enum(['sensitivity', 'noise', 'none']).optional().describe('Degradation estimator: "sensitivity" or "noise" need a sensitivity run; "none" offers only lossless precisions (only the cut is chosen).'),
    inputShape: z.record(z.string(), z.array(z.number().int().positive())).optional().describe('Input dims per input name ("*" = the only input), e.g. {"*": [1, 3, 320, 320]}.'),
    objective: ObjectiveSchema.describe('Weights of the objective: latency (per ms) + energy (per J) + cost (per $).'),
    constraints: ConstraintsSchema.describe('maxDegradation: accuracy budget as a fraction (0.01 = one point of top-1); sloMs: latency bound; enforceMemory; headCached.'),
    points: z.number().int().positive().max(500).optional().describe('Budgets swept for the Pareto front (default 50).'),
    problem: z.record(z.string(), z.unknown()).optional().describe('A complete planning problem (as `partita plan --dump-problem` writes); replaces model/device/link. Objective and constraints above still apply.'),
  })
  .superRefine((s, ctx) => {
    if (s.problem) return;
    for (const k of ['model', 'device', 'link'] as const) {
      if (!s[k]) ctx.addIssue({ code: 'custom', path: [k], message: `"${k}" is required (or give a complete "problem")` });
    }
  });

export type PlanSettings = z.output<typeof PlanSettingsSchema>;

export interface SettingsNames {
  models: string[];
  devices: string[];
  links: string[];
}

/** The names the store knows, for completion and for the check of a settings cell. */
export async function loadSettingsNames(api: Pick<CoreApi, 'models.list' | 'devices.list' | 'links.list'>): Promise<SettingsNames> {
  const [m, d, l] = await Promise.all([api['models.list'](), api['devices.list'](), api['links.list']()]);
  return { models: m.models.map((x) => x.name), devices: d.devices.map((x) => x.name), links: l.links.map((x) => x.name) };
}

/** The JSON Schema Monaco validates against, with the store's names as enums so completion offers them. */
export function settingsJsonSchema(names: SettingsNames): Record<string, unknown> {
  const schema = z.toJSONSchema(PlanSettingsSchema, { io: 'input', unrepresentable: 'any' }) as { properties: Record<string, Record<string, unknown>> };
  const withEnum = (key: keyof SettingsNames, prop: string) => {
    if (names[key].length) schema.properties[prop] = { ...schema.properties[prop], enum: names[key] };
  };
  withEnum('models', 'model');
  withEnum('devices', 'device');
  withEnum('links', 'link');
  return schema as unknown as Record<string, unknown>;
}

/** Parses and checks a settings cell; throws an Error whose message says what is wrong and where. */
export function parseSettings(source: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(source);
  } catch (e) {
    throw new Error(`The settings are not valid JSON (${(e as Error).message}).`);
  }
  return json;
}

/** Checks settings that are meant for planning (the cells that read them call this). */
export function checkPlanSettings(value: unknown): PlanSettings {
  const r = PlanSettingsSchema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue.path.length ? issue.path.join('.') : 'settings';
  throw new Error(`Invalid settings at "${where}": ${issue.message}.`);
}
