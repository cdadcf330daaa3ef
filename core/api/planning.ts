import { z } from 'zod';

/**
 * The planning problem (QPART, in the notation of shared/SCIENCE.md): a self-contained JSON document that holds
 * everything the solver needs, so it can be dumped (`partita plan … --dump-problem`), solved on its own
 * (`partita solve FILE`), and tested without a model.
 *
 * Units: times in milliseconds, energy in joules, money in US dollars, bandwidth in bits per second, sizes in
 * bytes. Degradation is a fraction of top-1 accuracy (0.01 = one percentage point), summed over layers.
 */

/** Weight precisions: 32 = FP32, 16 = FP16, the rest integer bits. */
export const WEIGHT_BITS = [32, 16, 8, 6, 5, 4, 3, 2] as const;
/** Activation precisions for the tensors sent over the link. */
export const ACTIVATION_BITS = [32, 16, 8, 6, 5, 4, 3, 2] as const;

const bits = z.union(WEIGHT_BITS.map((b) => z.literal(b)) as unknown as [z.ZodLiteral<32>, z.ZodLiteral<16>, ...z.ZodLiteral<number>[]]);
const nonNeg = z.number().finite().nonnegative();
const positive = z.number().finite().positive();

/** One precision a layer may run at on the device, with its predicted costs. */
export const LayerOptionSchema = z.object({
  bits,
  /** Time of this layer on the device at this precision. */
  deviceTimeMs: nonNeg,
  /** Device energy of computing this layer (usually P_compute x time). */
  deviceEnergyJ: nonNeg,
  /** Packed weight bytes at this precision (w * bits / 8 plus scales and zero points): what the device downloads. */
  weightBytes: nonNeg,
  /** Predicted accuracy degradation when this layer runs at this precision (0 for FP32). */
  degradation: z.number().finite(),
});

export const PlanLayerSchema = z.object({
  name: z.string(),
  /** 1-based position in the topological order; layers[i].position must be i + 1. */
  position: z.number().int().positive(),
  opType: z.string().optional(),
  /** Multiply-accumulates (for the computation payload). */
  macs: nonNeg,
  /** Time of this layer on the server (FP32). */
  serverTimeMs: nonNeg,
  /** At least one option; a layer without weights has a single FP32 option. */
  options: z.array(LayerOptionSchema).min(1),
});

/** Sending the cut set at one activation precision. */
export const CutOptionSchema = z.object({
  bits,
  /** Bytes sent over the uplink: sum over cut tensors of elements * bits / 8 (+ scales). */
  bytes: nonNeg,
  /** Predicted degradation from quantizing the cut tensors to these bits (0 for FP32). */
  degradation: z.number().finite(),
});

export const CutSchema = z.object({
  /** c: layers 1..c run on the device, c+1..L on the server. cuts[i].position must be i. */
  position: z.number().int().nonnegative(),
  /** Names of the tensors crossing the cut (several with skip connections). */
  tensors: z.array(z.string()),
  /** Elements summed over the cut tensors. */
  elements: nonNeg,
  /** Peak bytes of live activations on the device while running the head 1..c (0 for c = 0). */
  peakActivationBytes: nonNeg,
  /** Ways to send the cut set. Ignored for c = L, where nothing is sent. */
  options: z.array(CutOptionSchema).min(1),
});

export const DeviceParamsSchema = z.object({
  name: z.string(),
  powerComputeW: nonNeg,
  powerIdleW: nonNeg,
  powerTxW: nonNeg,
  powerRxW: nonNeg,
  /** Memory available to the model (weights + activations). */
  memoryBytes: positive,
});

export const LinkParamsSchema = z.object({
  name: z.string(),
  uplinkBps: positive,
  downlinkBps: positive,
  rttMs: nonNeg,
});

export const ServerParamsSchema = z.object({
  name: z.string(),
  /** Price of one second of server time. */
  pricePerSecondUsd: nonNeg,
});

/** Objective = latency * latencyMs + energy * energyJ + cost * costUsd. */
export const ObjectiveSchema = z.object({
  latency: nonNeg,
  energy: nonNeg,
  cost: nonNeg,
}).refine((o) => o.latency + o.energy + o.cost > 0, { message: 'at least one objective weight must be positive' });

export const ConstraintsSchema = z.object({
  /** Budget on the summed predicted degradation (fraction; 0.01 = 1 percentage point). */
  maxDegradation: z.number().finite().min(0).max(1),
  /** Optional end-to-end latency bound. */
  sloMs: positive.optional(),
  /** Enforce head weights + peak activations <= device.memoryBytes. */
  enforceMemory: z.boolean().default(true),
  /** The device already holds this exact head: no model download. */
  headCached: z.boolean().default(false),
  /** Restrict weight precisions (default: every option given). */
  allowedBits: z.array(bits).min(1).optional(),
  /** Restrict activation precisions on the link (default: every option given). */
  allowedActivationBits: z.array(bits).min(1).optional(),
});

export const PlanningProblemSchema = z
  .object({
    version: z.literal(1),
    model: z.object({ name: z.string(), sha256: z.string().optional() }),
    layers: z.array(PlanLayerSchema).min(1),
    /** L + 1 entries, cut positions 0..L. */
    cuts: z.array(CutSchema).min(2),
    /** FP32 bytes of the model input (full-offload reference for the communication payload). */
    inputBytes: nonNeg,
    /** Bytes of the result sent back to the device (FP32 outputs). */
    resultBytes: nonNeg,
    /** FP32 weight bytes of the whole model (reference for the communication payload). */
    modelWeightBytes: nonNeg,
    device: DeviceParamsSchema,
    link: LinkParamsSchema,
    server: ServerParamsSchema,
    objective: ObjectiveSchema,
    constraints: ConstraintsSchema,
  })
  .superRefine((p, ctx) => {
    p.layers.forEach((l, i) => {
      if (l.position !== i + 1) ctx.addIssue({ code: 'custom', path: ['layers', i, 'position'], message: `layer ${i} has position ${l.position}, expected ${i + 1}` });
    });
    if (p.cuts.length !== p.layers.length + 1) {
      ctx.addIssue({ code: 'custom', path: ['cuts'], message: `${p.cuts.length} cuts for ${p.layers.length} layers; expected ${p.layers.length + 1} (positions 0..L)` });
    }
    p.cuts.forEach((c, i) => {
      if (c.position !== i) ctx.addIssue({ code: 'custom', path: ['cuts', i, 'position'], message: `cut ${i} has position ${c.position}, expected ${i}` });
    });
  });

/**
 * The small top-level parts of a planning problem that a device, link, server, objective or budget edit changes
 * (plan.register's `patch`): each replaces the base problem's part whole. The layers and cuts are not patchable.
 */
export const PROBLEM_PATCH_PARTS = ['device', 'link', 'server', 'objective', 'constraints'] as const;
export type ProblemPatchPart = (typeof PROBLEM_PATCH_PARTS)[number];

export const ProblemPatchSchema = z.strictObject({
  device: DeviceParamsSchema.optional(),
  link: LinkParamsSchema.optional(),
  server: ServerParamsSchema.optional(),
  objective: ObjectiveSchema.optional(),
  constraints: ConstraintsSchema.optional(),
});

export type LayerOption = z.infer<typeof LayerOptionSchema>;
export type PlanLayer = z.infer<typeof PlanLayerSchema>;
export type CutOption = z.infer<typeof CutOptionSchema>;
export type Cut = z.infer<typeof CutSchema>;
export type DeviceParams = z.infer<typeof DeviceParamsSchema>;
export type LinkParams = z.infer<typeof LinkParamsSchema>;
export type ServerParams = z.infer<typeof ServerParamsSchema>;
export type Objective = z.infer<typeof ObjectiveSchema>;
export type Constraints = z.infer<typeof ConstraintsSchema>;
export type PlanningProblem = z.infer<typeof PlanningProblemSchema>;
export type ProblemPatch = z.infer<typeof ProblemPatchSchema>;

/** A solution: where to cut, the bits of each head layer, and what it is predicted to cost. */
export interface Plan {
  cut: number;
  /** bits[i] is the precision of layer i + 1; length = cut. */
  bits: number[];
  /** Activation bits on the link; null when cut = L (nothing is sent). */
  activationBits: number | null;
  latencyMs: number;
  breakdownMs: { download: number; device: number; uplink: number; server: number; result: number };
  energyJ: number;
  costUsd: number;
  degradation: number;
  objective: number;
  /** Packed weight bytes of the head (what a download sends). */
  headWeightBytes: number;
  /** Bytes of the cut set on the uplink (0 when cut = L). */
  uplinkBytes: number;
  /** Head weights + peak activations on the device. */
  deviceMemoryBytes: number;
  payload: {
    /** sum over head layers of MACs * bits / (sum over all layers of MACs * 32). */
    computation: number;
    /** (download bytes + uplink bytes) / (FP32 input bytes + FP32 model bytes). */
    communication: number;
  };
}
