import { z } from 'zod';
import { ConstraintsSchema, ObjectiveSchema } from './planning.js';

/**
 * `plan.json`, the exported description of a chosen configuration, for other tools: where the model is cut, the
 * bits of every device layer, how the link encodes the cut tensors, the predicted costs, and the files beside it.
 * Its JSON Schema is schemas/plan.schema.json (generated from this by `npm run gen:schemas`, checked by a test).
 */
const nonNeg = z.number().finite().nonnegative();

export const PlanFileSchema = z.object({
  format: z.literal('partita-plan/1'),
  model: z.object({ name: z.string(), sha256: z.string(), layers: z.number().int().nonnegative() }),
  /** Layers 1..cut run on the device, the rest on the server. */
  cut: z.number().int().nonnegative(),
  /** Per device layer (position 1..cut): name, op type and weight bits (32 = FP32, 16 = FP16). */
  deviceLayers: z.array(z.object({ position: z.number().int().positive(), name: z.string(), opType: z.string(), bits: z.number().int() })),
  /** How each tensor crossing the cut is sent (bits on the wire; scale/zero point for integer codes). */
  link: z.array(
    z.object({
      tensor: z.string(),
      encoding: z.enum(['raw', 'float16', 'codes']),
      bits: z.number().int(),
      scale: z.number().optional(),
      zeroPoint: z.number().optional(),
    }),
  ),
  activationBits: z.number().int().nullable(),
  /** What the planner predicted (times in ms, energy in J, cost in USD, degradation as a fraction of top-1). */
  predicted: z
    .object({
      latencyMs: nonNeg,
      breakdownMs: z.object({ download: nonNeg, device: nonNeg, uplink: nonNeg, server: nonNeg, result: nonNeg }),
      energyJ: nonNeg,
      costUsd: nonNeg,
      degradation: z.number(),
      headWeightBytes: nonNeg,
      uplinkBytes: nonNeg,
      payload: z.object({ computation: nonNeg, communication: nonNeg }),
    })
    .nullable(),
  request: z
    .object({ device: z.string(), link: z.string(), server: z.string(), objective: ObjectiveSchema, constraints: ConstraintsSchema })
    .nullable(),
  /** Files written beside plan.json, with their sha256. */
  files: z.record(z.string(), z.object({ bytes: z.number().int().nonnegative(), sha256: z.string() })),
  createdBy: z.string(),
});

export type PlanFile = z.infer<typeof PlanFileSchema>;
