import { z } from 'zod';
import { PlanFileSchema } from './planFile.js';
import { ConstraintsSchema, ObjectiveSchema, PlanningProblemSchema, ProblemPatchSchema, WEIGHT_BITS, type Plan } from './planning.js';

/**
 * THE contract between the core and everything that drives it (the renderer, agents, notebooks, tests): every
 * method, its single JSON argument object, its result, the events, and the error codes of the RPC layer.
 *
 * Rules every method follows (ARCHITECTURE.md, "One API, several transports"):
 * - One argument: a JSON object, checked against `arg` on the core side before the handler runs (the caller is
 *   untrusted). Unknown keys are refused, so a misspelt option is an error rather than silently ignored. Defaults
 *   written here are applied before the handler sees the argument.
 * - One result: a JSON object (never an array or undefined, so it can grow without breaking callers).
 * - Failures reject with a `CoreError` (code + message + optional details), revived on the caller's side.
 *   Each method lists the codes it may fail with beyond the RPC codes in `RPC_ERROR_CODES`.
 * - Long jobs (`kind: 'job'`) answer `{ jobId }` at once, then emit `job.progress` events and exactly one
 *   `job.done` event carrying either `result` (shaped like the method's `jobResult`) or `error`. A job can be
 *   cancelled with `jobs.cancel`; its `job.done` then carries the error code `cancelled`.
 *
 * Units follow the house style: times in milliseconds, sizes in bytes, bandwidths in bits per second, energy in
 * joules, money in US dollars, degradation as a fraction of top-1 accuracy (0.01 = one percentage point).
 */

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces

const nonNegInt = z.number().int().nonnegative();
const posInt = z.number().int().positive();
const nonNeg = z.number().finite().nonnegative();
const isoDate = z.string();
const weightBits = z.literal(WEIGHT_BITS);
/** Activation bits the quantizer writes (32 = keep float; no FP16 activations). */
const quantActivationBits = z.literal([32, 8, 6, 5, 4, 3, 2]);

/** A model by name (e.g. `fmnist-cnn`) or by numeric id. A string of digits is also read as an id. */
export const ModelRefSchema = z.union([z.string().min(1).max(200), posInt]);

/** A registered dataset by name (e.g. `fashion-mnist-test`). */
export const DatasetRefSchema = z.string().min(1).max(200);

/**
 * Input dims per graph input name, e.g. `{ "images": [1, 3, 96, 96] }`; the key `*` applies to the only input.
 * Needed when non-batch axes are symbolic.
 */
export const InputShapeSchema = z.record(z.string().min(1).max(200), z.array(posInt).min(1).max(8));

/** Identifies one long job; unique for the lifetime of the core process. */
export const JobIdSchema = z.string().min(1).max(100);

/** What every job method answers at once. */
export const JobStartedSchema = z.object({ jobId: JobIdSchema });

/** An error as it crosses the wire: a `CoreError` without its stack. */
export const ApiErrorSchema = z.object({
  /** Stable kebab-case code, e.g. `model-unknown`, `rpc-invalid-argument`, `internal-error`. */
  code: z.string().min(1),
  /** Sentence-case message that quotes the bad value and says what to do. */
  message: z.string(),
  /** Optional machine-readable details (JSON). */
  details: z.unknown().optional(),
});

const NoArgSchema = z.strictObject({});

// ---------------------------------------------------------------------------------------------------------------
// Models

/** A graph input or output as declared in the file: dims are numbers or symbolic names. */
export const ValueSpecSchema = z.object({
  name: z.string(),
  /** ONNX element type name, e.g. `float`. */
  dataType: z.string(),
  dims: z.array(z.union([z.number(), z.string()])),
});

/** An imported model (one row of the store). */
export const ModelSummarySchema = z.object({
  id: posInt,
  /** SHA-256 of the stored (self-contained) ONNX bytes, hex. */
  sha256: z.string(),
  name: z.string(),
  /** Absolute path it was imported from, if any. */
  sourcePath: z.string().nullable(),
  /** Size of the stored ONNX file. */
  bytes: nonNegInt,
  irVersion: nonNegInt,
  /** Default-domain opset. */
  opset: nonNegInt,
  producer: z.string(),
  layerCount: nonNegInt,
  paramCount: nonNegInt,
  /** FP32 weight bytes (initializers and constant weights of the layers). */
  weightBytes: nonNegInt,
  inputs: z.array(ValueSpecSchema),
  outputs: z.array(ValueSpecSchema),
  /** ISO 8601 time of import. */
  importedAt: isoDate,
});

/** One layer (graph node) of a model, in topological order. */
export const LayerSchema = z.object({
  /** 1-based position in the topological order. */
  position: posInt,
  name: z.string(),
  opType: z.string(),
  /** Operator domain ('' = the default ONNX domain). */
  domain: z.string(),
  inputs: z.array(z.string()),
  outputs: z.array(z.string()),
  /** The inputs that are weights (initializers or constants). */
  weightInputs: z.array(z.string()),
});

// ---------------------------------------------------------------------------------------------------------------
// Profiles

export const ProfileLayerSchema = z.object({
  position: posInt,
  name: z.string(),
  opType: z.string(),
  params: nonNeg.nullable(),
  weightBytes: nonNeg.nullable(),
  /** Multiply-accumulates; null when the op has no cost formula. */
  macs: nonNeg.nullable(),
  flops: nonNeg.nullable(),
  /** Which cost formula produced macs/flops. */
  costModel: z.string().nullable(),
  outElements: nonNeg.nullable(),
  outBytes: nonNeg.nullable(),
  /** Median measured time of this node on this host (latency profiles only). */
  latencyMs: nonNeg.nullable(),
  /** 90th percentile of the same measurements. */
  latencyP90Ms: nonNeg.nullable(),
});

export const ProfileTensorSchema = z.object({
  name: z.string(),
  dataType: z.string(),
  dims: z.array(nonNegInt),
  bytes: nonNeg,
});

/** A stored profile: `static` (shapes, params, MACs, activation bytes) or `latency` (measured per node). */
export const ProfileRecordSchema = z.object({
  id: posInt,
  modelId: posInt,
  kind: z.enum(['static', 'latency']),
  /** Hash of model content + settings: the cache key. */
  settingsHash: z.string(),
  settings: z.record(z.string(), z.unknown()),
  /** Totals: static: params, weightBytes, macs, flops, opsWithoutFormula; latency: sumOfLayerMediansMs, wholeModelMedianMs, profiledRunMedianMs, ratio. */
  summary: z.record(z.string(), z.unknown()),
  createdAt: isoDate,
  layers: z.array(ProfileLayerSchema),
  tensors: z.array(ProfileTensorSchema),
});

export const ProfileResultSchema = z.object({
  static: ProfileRecordSchema,
  latency: ProfileRecordSchema.optional(),
  /** Which parts came from the cache (same model content and settings). */
  cached: z.object({ static: z.boolean(), latency: z.boolean().optional() }),
});

// ---------------------------------------------------------------------------------------------------------------
// Datasets, evaluation, sensitivity

export const DatasetSchema = z.object({
  id: posInt,
  name: z.string(),
  format: z.literal('idx'),
  imagesPath: z.string(),
  labelsPath: z.string().nullable(),
  /** Number of samples. */
  count: nonNegInt,
  /** Shape of one sample, e.g. [28, 28]. */
  shape: z.array(nonNegInt),
  /** Number of classes; null for an unlabelled set. */
  labelCount: nonNegInt.nullable(),
  sha256: z.string(),
  createdAt: isoDate,
});

export const EvalResultSchema = z.object({
  model: z.string(),
  dataset: z.string(),
  /** Fraction correct, 0..1. */
  top1: z.number().min(0).max(1),
  correct: nonNegInt,
  count: nonNegInt,
});

/** Measured per-layer sensitivity: drop[i][j] = top-1 drop when only layers[i] runs at bits[j]. */
export const SensitivityTableSchema = z.object({
  layers: z.array(z.string()),
  bits: z.array(z.number()),
  /** Fraction of top-1 (0.01 = one point); may be negative (noise). */
  drop: z.array(z.array(z.number())),
  /** KL divergence of the outputs against FP32, same layout. */
  kl: z.array(z.array(z.number())),
  /** FP32 top-1 on the calibration slice (1 for unlabelled data, the FP32 model being the reference). */
  fp32Top1: z.number(),
  /** `top1`: drops are top-1 points lost (labelled data); `agreement`: fraction of outputs whose class changes vs FP32. */
  metric: z.enum(['top1', 'agreement']).optional(),
  /** The link's cost: drop[c][j] = top-1 lost when the tensors crossing cut c (0 = the input) are sent at bits[j]. */
  link: z.object({ bits: z.array(z.number()), drop: z.array(z.array(z.number())), kl: z.array(z.array(z.number())) }).optional(),
});

/** The theoretical noise model: predicted drop = dropPerNoise * sum_l kappa[l] * sigma2[l][bits]. */
export const NoiseModelSchema = z.object({
  layers: z.array(z.string()),
  bits: z.array(z.number()),
  kappa: z.array(z.number()),
  sigma2: z.array(z.array(z.number())),
  dropPerNoise: z.number(),
});

export const SensitivityResultSchema = z.object({
  model: z.string(),
  dataset: z.string(),
  settings: z.record(z.string(), z.unknown()),
  sensitivity: SensitivityTableSchema,
  noise: NoiseModelSchema,
  cached: z.object({ sensitivity: z.boolean(), noise: z.boolean() }),
});

// ---------------------------------------------------------------------------------------------------------------
// Quantization

/**
 * Weight bits: one width for every quantizable layer (e.g. 8), a map `{ default: 8, conv1: 4 }` (layer name,
 * `#N` for the N-th quantizable layer, or a fragment naming exactly one layer), or the CLI's spec string
 * `conv1=4,default=8`. 16 = FP16, 32 = keep FP32.
 */
export const QuantBitsSchema = z.union([weightBits, z.record(z.string().min(1).max(500), weightBits), z.string().min(1).max(10_000)]);

const calibrationMethod = z.enum(['minmax', 'percentile', 'mse']);

/** The complete quantization configuration (mirrors QuantConfig in core/quant/quantConfig.ts). */
export const QuantConfigSchema = z.object({
  version: z.literal(1),
  weights: z.object({
    /** Bits of every quantizable layer not listed in `layers`. */
    default: weightBits,
    /** Per-layer overrides by layer name. */
    layers: z.record(z.string(), weightBits),
    symmetric: z.boolean(),
    granularity: z.enum(['tensor', 'channel', 'block']),
    blockSize: posInt.optional(),
    clipping: z.enum(['none', 'mse']),
    /** INT8 QDQ only: 7-bit weight range in 8-bit storage. */
    reduceRange: z.boolean().optional(),
  }),
  activations: z.object({
    /** Bits of the activation input of every quantized layer (32 = keep float). */
    default: quantActivationBits,
    layers: z.record(z.string(), quantActivationBits),
    method: calibrationMethod,
    /** Calibrated ranges per tensor name. */
    ranges: z.record(z.string(), z.object({ min: z.number(), max: z.number() })),
    calibration: z.object({ dataset: z.string(), samples: nonNegInt }).optional(),
  }),
});

export const QuantizeResultSchema = z.object({
  /** Absolute path of the written .onnx file. */
  out: z.string(),
  format: z.enum(['simulation', 'qdq', 'matmul-nbits']),
  /** SHA-256 of the written file, hex. */
  sha256: z.string(),
  /** Size of the written file. */
  bytes: nonNegInt,
  /** Parameter-weighted mean weight bits over the quantizable layers (32 for FP32 layers). */
  averageBits: z.number(),
  /** Packed weight bytes of the quantizable layers as sent to a device (codes + scales + zero points). */
  packedWeightBytes: nonNeg,
  fp32WeightBytes: nonNeg,
  /** The configuration used (also written into the model's metadata as `partita.quant`). */
  config: QuantConfigSchema,
});

// ---------------------------------------------------------------------------------------------------------------
// Devices, links, planning

export const DeviceProfileSchema = z.object({
  name: z.string(),
  kind: z.enum(['preset', 'measured', 'custom']),
  /** Where the figures come from (citation, or how they were measured). */
  source: z.string(),
  threads: posInt,
  /** Effective multiply-accumulates per second on dense layers, per precision class. */
  macsPerSecond: z.object({ fp32: nonNeg, int8: nonNeg, int4: nonNeg }),
  /** Elements per second for element-wise, pooling and data-movement layers. */
  elementsPerSecond: nonNeg,
  /** Fixed cost of launching one layer. */
  layerOverheadMs: nonNeg,
  /** Fixed cost of one inference besides its layers. */
  inferenceOverheadMs: nonNeg.optional(),
  /** Memory available to the model (weights + activations). */
  memoryBytes: nonNeg,
  /** Power draw in watts while computing, idle, transmitting, receiving. */
  power: z.object({ computeW: nonNeg, idleW: nonNeg, txW: nonNeg, rxW: nonNeg }),
});

export const LinkProfileSchema = z.object({
  name: z.string(),
  kind: z.enum(['preset', 'measured', 'custom']),
  source: z.string(),
  uplinkBps: nonNeg,
  downlinkBps: nonNeg,
  rttMs: nonNeg,
  /** Packet loss fraction 0..1. */
  loss: z.number().min(0).max(1),
});

/** A solution of a planning problem; mirrors `Plan` in planning.ts (checked below). */
export const PlanSchema = z.object({
  /** Layers 1..cut run on the device, the rest on the server. */
  cut: nonNegInt,
  /** bits[i] is the weight precision of layer i + 1; length = cut. */
  bits: z.array(z.number()),
  /** Activation bits on the link; null when cut = L (nothing is sent). */
  activationBits: z.number().nullable(),
  latencyMs: z.number(),
  breakdownMs: z.object({ download: z.number(), device: z.number(), uplink: z.number(), server: z.number(), result: z.number() }),
  energyJ: z.number(),
  costUsd: z.number(),
  degradation: z.number(),
  objective: z.number(),
  headWeightBytes: z.number(),
  uplinkBytes: z.number(),
  deviceMemoryBytes: z.number(),
  payload: z.object({ computation: z.number(), communication: z.number() }),
});

/** Work done by the exact search (mirrors SolveStats in core/plan/solver.ts; checked in test/rpc/wire.test.ts). */
export const SolveStatsSchema = z.object({
  /** Wall time of the solve, including the infeasibility analysis when there is one. */
  solveMs: nonNeg,
  /** (cut, activation) subproblems that had to be searched (not pruned by their bound). */
  subproblems: nonNegInt,
  /** Dynamic-programming states generated. */
  nodes: nonNegInt,
  /** (cut, activation) pairs considered. */
  candidates: nonNegInt,
});

/** Names a problem kept by `plan.register`: the SHA-256 of its content, hex. */
export const ProblemIdSchema = z.string().regex(/^[0-9a-f]{64}$/, 'a problem id is the 64 hex digits plan.register returned');

/** How many registered problems the core keeps at least (most recently used first). */
export const PROBLEM_REGISTRY_SIZE = 8;

/** The three constraints of a planning problem: the degradation budget, the latency SLO, the device memory. */
export const ConstraintNameSchema = z.enum(['degradation', 'latency', 'memory']);

export const ConstraintAnalysisSchema = z.object({
  name: ConstraintNameSchema,
  /** The limit as stated in the problem (fraction, ms or bytes). */
  limit: z.number(),
  /** Best value of this constraint's quantity under the other constraints; null if they admit no plan at all. */
  bestAchievable: z.number().nullable(),
  /** (bestAchievable - limit) / max(limit, floor): how far the limit would have to move; null with bestAchievable. */
  relativeMove: z.number().nullable(),
});

/**
 * Why no plan meets the constraints (mirrors InfeasibilityReport in core/plan/infeasibility.ts): the tightest
 * constraint, the best value reachable for it under the others, and the nearest plan.
 */
export const InfeasibilityReportSchema = z.object({
  /** Sentence-case explanation that says which constraint to relax and by how much. */
  message: z.string(),
  tightest: ConstraintNameSchema,
  limit: z.number(),
  /** With a single relaxation: the best achievable value of the tightest quantity; otherwise its value in `nearest`. */
  bestAchievable: z.number(),
  /** The plan that needs the least relaxation. */
  nearest: PlanSchema,
  /** False when relaxing any one constraint alone is not enough; `nearest` then minimises the summed relative violations. */
  singleRelaxation: z.boolean(),
  constraints: z.array(ConstraintAnalysisSchema),
});

export const SolveResultSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('optimal'), plan: PlanSchema, stats: SolveStatsSchema }),
  z.object({ status: z.literal('infeasible'), report: InfeasibilityReportSchema, stats: SolveStatsSchema }),
]);

/** The baselines every comparison includes (mirrors BaselinePlan in core/plan/baselines.ts). */
export const BaselinePlanSchema = PlanSchema.extend({
  baseline: z.enum(['device-fp32', 'device-int8', 'full-offload', 'neurosurgeon', 'uniform8-best-cut', 'bits-only']),
  /** Human-readable name, e.g. `Full offload`. */
  label: z.string(),
  /** Which of the problem's constraints the plan meets (null: the constraint is not active). */
  feasible: z.object({ degradation: z.boolean(), latency: z.boolean().nullable(), memory: z.boolean().nullable(), all: z.boolean() }),
});

/** Mirrors ParetoFront in core/plan/pareto.ts. */
export const ParetoFrontSchema = z.object({
  /** Non-dominated plans over (latency, energy, degradation, cost), sorted by latency, then degradation. */
  plans: z.array(PlanSchema),
  /** Index into plans of the knee (best trade-off of latency against degradation); -1 when the front is empty. */
  knee: z.number().int().min(-1),
  /** Searches run and their total time. */
  stats: z.object({ solves: nonNegInt, solveMs: nonNeg }),
});

// ---------------------------------------------------------------------------------------------------------------
// Device agents and runs

/** An agent attached to the workbench's hub (live: heartbeats, round trip, bytes so far). */
export const AgentInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  hardware: z.object({ cpu: z.string(), cores: nonNegInt, memoryBytes: nonNeg, arch: z.string(), platform: z.string(), node: z.string(), ort: z.string() }),
  tokenId: nonNegInt,
  connectedAt: isoDate,
  lastHeartbeatAt: isoDate.nullable(),
  rttMs: nonNeg.nullable(),
  cachedModels: z.array(z.string()),
  bytesSent: nonNeg,
  bytesReceived: nonNeg,
  modelBytesSent: nonNeg,
});

/** The shape of a plan that a run needs: where to cut, the head's weight bits, the bits on the link. */
export const PlanShapeSchema = z.strictObject({
  /** Layers 1..cut run on the device. */
  cut: nonNegInt,
  /** Weight bits of head layers 1..cut (length = cut). */
  bits: z.array(weightBits).max(100_000),
  /** Bits of the activations sent over the link; null when nothing is sent (cut = the layer count). */
  activationBits: z.literal([32, 16, 8, 6, 5, 4, 3, 2]).nullable(),
});

/** What a stored plan was chosen for: the device, link and server (default `a100`), and optionally the rest of the request. */
export const PlanRequestSchema = z.strictObject({
  device: z.string().min(1).max(200),
  link: z.string().min(1).max(200),
  server: z.string().min(1).max(200).optional(),
  estimator: z.enum(['sensitivity', 'noise', 'none']).optional(),
  objective: ObjectiveSchema.optional(),
  constraints: ConstraintsSchema.optional(),
});

/** A stored plan (table `plans`): `runs.start` runs it by id and compares the run with its prediction. */
export const StoredPlanSchema = z.object({
  id: posInt,
  modelId: posInt,
  /** The model's name. */
  model: z.string(),
  request: z.record(z.string(), z.unknown()).nullable(),
  plan: z.object({ cut: nonNegInt, bits: z.array(z.number()), activationBits: z.number().nullable() }),
  createdAt: isoDate,
});

export const PairingTokenSchema = z.object({ id: posInt, label: z.string(), createdAt: isoDate, revokedAt: isoDate.nullable(), lastUsedAt: isoDate.nullable() });

const stageTimes = z.object({ deviceMs: z.number(), uplinkMs: z.number(), serverMs: z.number(), downlinkMs: z.number(), latencyMs: z.number() });

/** A stored run of a plan (local, or with the head on an agent), with the planner's prediction beside it. */
export const PlanRunSchema = z.object({
  id: posInt,
  planId: posInt.nullable(),
  modelId: posInt,
  target: z.enum(['local', 'agent']),
  agentName: z.string().nullable(),
  device: z.string(),
  link: z.string(),
  server: z.string(),
  cut: nonNegInt,
  plan: z.object({ cut: nonNegInt, bits: z.array(z.number().int()), activationBits: z.number().int().nullable() }),
  status: z.enum(['ok', 'failed']),
  errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(),
  retryOf: posInt.nullable(),
  requests: nonNegInt,
  pipelined: z.boolean(),
  predicted: z.record(z.string(), z.unknown()).nullable(),
  measured: z.record(z.string(), z.unknown()).nullable(),
  top1: z.number().nullable(),
  createdAt: isoDate,
});

export const PlanRunResultSchema = z.object({
  run: PlanRunSchema,
  predicted: z
    .object({ latencyMs: z.number(), breakdownMs: z.record(z.string(), z.number()), downloadMs: z.number(), headWeightBytes: z.number(), uplinkBytes: z.number() })
    .nullable(),
  predictionError: z.string().nullable(),
  measured: z.object({
    median: stageTimes,
    p90: stageTimes,
    throughputRps: z.number(),
    requestsMs: z.number(),
    download: z.object({ bytes: z.number(), ms: z.number() }).nullable(),
    bytes: z.record(z.string(), z.number()),
  }),
  relativeError: stageTimes.nullable(),
  top1: z.number().nullable(),
});

/** A folder name for an export: letters, digits, '.', '_' or '-', not starting with '.' (never a path). */
export const ExportNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/, 'an export name is a plain folder name: 1 to 100 letters, digits, ".", "_" or "-", not starting with "."');

/** What plans.export wrote. */
export const ExportResultSchema = z.object({
  /** Absolute path of the folder on the core's file system. */
  outDir: z.string(),
  /** The folder's name (under the workbench's exports folder). */
  name: z.string(),
  /** The files written, in the order written (plan.json last), with their size and SHA-256 (hex). */
  files: z.array(z.object({ name: z.string(), bytes: nonNegInt, sha256: z.string() })),
  /** The plan.json written. */
  planFile: PlanFileSchema,
});

// ---------------------------------------------------------------------------------------------------------------
// Store queries

/** A query cell: BLOBs come back as the string `<blob N bytes>`, integers beyond 2^53 as strings. */
export const QueryCellSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);

// ---------------------------------------------------------------------------------------------------------------
// Notebooks

export const NOTEBOOK_CELL_KINDS = ['markdown', 'settings', 'query', 'plot', 'run'] as const;

export const NotebookCellSchema = z.strictObject({
  /** Stable id within the notebook (letters, digits, '_' or '-'). */
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a cell id is 1 to 64 letters, digits, "_" or "-"'),
  /** markdown: prose; settings: JSON the other cells read; query: SQL; plot: a plot spec; run: a core call. */
  kind: z.enum(NOTEBOOK_CELL_KINDS),
  /** The cell's text (at most 1,000,000 characters). */
  source: z.string().max(1_000_000),
});

/**
 * The notebook document format this core reads and writes (`*.notebook.json` files, `notebooks.save`). A file
 * without `format` is format 1; a newer format is refused (`notebook-too-new` when read from a file).
 */
/** 2: a cell's source may be stored in a file as an array of lines (diffs line by line); 1: strings only. */
export const NOTEBOOK_FORMAT = 2;

export const NotebookSchema = z
  .strictObject({
    /** Document format version (default 1, for files written before the field existed); at most NOTEBOOK_FORMAT. */
    format: z
      .number()
      .int()
      .min(1)
      .max(NOTEBOOK_FORMAT, `this Partita reads notebook format ${NOTEBOOK_FORMAT} and older; update Partita to open a newer notebook`)
      .default(1),
    /** Absent for a notebook never saved; assigned by `notebooks.save`. */
    id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a notebook id is 1 to 64 letters, digits, "_" or "-"').optional(),
    name: z.string().min(1).max(200),
    cells: z.array(NotebookCellSchema).max(2000),
  })
  .superRefine((n, ctx) => {
    const seen = new Set<string>();
    n.cells.forEach((c, i) => {
      if (seen.has(c.id)) ctx.addIssue({ code: 'custom', path: ['cells', i, 'id'], message: `duplicate cell id "${c.id}"; cell ids must be unique in a notebook` });
      seen.add(c.id);
    });
  });

export const SavedNotebookSchema = z.object({
  id: z.string(),
  name: z.string(),
  cells: z.array(z.object({ id: z.string(), kind: z.enum(NOTEBOOK_CELL_KINDS), source: z.string() })),
  /** ISO 8601 time of the last save. */
  updatedAt: isoDate,
});

export const NotebookSummarySchema = z.object({ id: z.string(), name: z.string(), cellCount: nonNegInt, updatedAt: isoDate });

// ---------------------------------------------------------------------------------------------------------------
// The methods

interface CallSpec<A extends z.ZodType, R extends z.ZodType> {
  kind: 'call';
  arg: A;
  result: R;
}
interface JobSpec<A extends z.ZodType, J extends z.ZodType> {
  kind: 'job';
  arg: A;
  result: typeof JobStartedSchema;
  /** Shape of `result` in the job's `job.done` event. */
  jobResult: J;
}
export type MethodSpec = CallSpec<z.ZodType, z.ZodType> | JobSpec<z.ZodType, z.ZodType>;

const call = <A extends z.ZodType, R extends z.ZodType>(arg: A, result: R): CallSpec<A, R> => ({ kind: 'call', arg, result });
const job = <A extends z.ZodType, J extends z.ZodType>(arg: A, jobResult: J): JobSpec<A, J> => ({ kind: 'job', arg, result: JobStartedSchema, jobResult });

export const CONTRACT = {
  /** The imported models, oldest first. */
  'models.list': call(NoArgSchema, z.object({ models: z.array(ModelSummarySchema) })),

  /**
   * Imports an ONNX file from the core's file system: decode, load external data, validate, prove ONNX Runtime
   * accepts it, store model + layers + tensors in one transaction. The same content twice reuses the row
   * (`reused: true`). `name` defaults to the file name without `.onnx`.
   * Errors: `model-file-missing`, `model-not-onnx` (and other decode codes), `model-name-invalid`,
   * `model-name-taken`.
   */
  'models.import': call(
    z.strictObject({ path: z.string().min(1).max(4096), name: z.string().min(1).max(100).optional() }),
    z.object({ model: ModelSummarySchema, reused: z.boolean() }),
  ),

  /**
   * Starts sending a model file from the page (a file dropped on the window or chosen in the import bar): the page
   * cannot name a path on the core's machine, and one message is capped at 16 MiB. Send the file with
   * uploads.chunk in `chunkBytes` pieces, in order, then import it with models.importUpload. An upload idle for
   * 10 minutes is dropped. Errors: `upload-too-large` (over 2 GiB: import by path).
   */
  'uploads.begin': call(
    z.strictObject({ fileName: z.string().min(1).max(255), bytes: nonNegInt }),
    z.object({ upload: z.string(), chunkBytes: posInt }),
  ),

  /**
   * One piece of an upload, base64, at byte `offset` (which must be what was received so far).
   * Errors: `upload-unknown`, `upload-out-of-order`, `upload-too-long`, `upload-chunk-invalid` (not base64).
   */
  'uploads.chunk': call(
    z.strictObject({ upload: z.string().min(1).max(64), offset: nonNegInt, data: z.string().max(12 * 2 ** 20) }),
    z.object({ receivedBytes: nonNegInt, totalBytes: nonNegInt }),
  ),

  /** Drops an upload in progress (the page's Cancel). `cancelled` is false when there was none. */
  'uploads.cancel': call(z.strictObject({ upload: z.string().min(1).max(64) }), z.object({ cancelled: z.boolean() })),

  /**
   * Imports a complete upload as models.import imports a path (same checks, same errors, one transaction); the
   * upload is removed either way. A model whose weights live in separate files cannot be uploaded: import it by
   * path. Errors: those of models.import, `upload-unknown`, `upload-incomplete`.
   */
  'models.importUpload': call(
    z.strictObject({ upload: z.string().min(1).max(64), name: z.string().min(1).max(100).optional() }),
    z.object({ model: ModelSummarySchema, reused: z.boolean() }),
  ),

  /** One model's row. Errors: `model-unknown` (the message lists the known models). */
  'models.get': call(z.strictObject({ model: ModelRefSchema }), z.object({ model: ModelSummarySchema })),

  /** A model's layers in topological order. Errors: `model-unknown`. */
  'models.layers': call(z.strictObject({ model: ModelRefSchema }), z.object({ model: z.string(), layers: z.array(LayerSchema) })),

  /**
   * Job: static profile (shapes, params, MACs, activation bytes) and, with `latency: true`, measured per-node
   * latency on this host (`runs` timed runs after `warmup`, `threads` intra-op threads). Both are cached by model
   * content + settings. Progress stages: `shapes`, `latency` (done/total = runs).
   * Errors (in job.done): `model-unknown`, `profile-settings-invalid`, `model-input-shape` codes, `cancelled`.
   */
  'profile.run': job(
    z.strictObject({
      model: ModelRefSchema,
      inputShape: InputShapeSchema.optional(),
      latency: z.boolean().default(false),
      runs: posInt.max(100_000).default(20),
      warmup: nonNegInt.max(10_000).default(3),
      threads: posInt.max(256).default(1),
    }),
    ProfileResultSchema,
  ),

  /** The registered datasets. */
  'datasets.list': call(NoArgSchema, z.object({ datasets: z.array(DatasetSchema) })),

  /**
   * Registers Fashion-MNIST's test and train splits (`fashion-mnist-test`, `fashion-mnist-train`) from Debian's
   * dataset-fashion-mnist package, or from `dir`. Idempotent. Errors: `dataset-missing`.
   */
  'datasets.addFashionMnist': call(z.strictObject({ dir: z.string().min(1).max(4096).optional() }), z.object({ datasets: z.array(DatasetSchema) })),

  /**
   * Job: top-1 accuracy of a model on a labelled dataset in onnxruntime-node, from sample `offset` for `limit`
   * samples (default: all). Stored as a measurement. Progress stage: `eval` (done/total = samples).
   * Errors: `model-unknown`, `dataset-unknown`, `dataset-unlabelled`, `model-input-count`, `cancelled`.
   */
  'eval.run': job(
    z.strictObject({
      model: ModelRefSchema,
      dataset: DatasetRefSchema,
      limit: posInt.optional(),
      offset: nonNegInt.optional(),
      threads: posInt.max(256).default(1),
    }),
    EvalResultSchema,
  ),

  /**
   * Job: writes a quantized copy of a model to `out` (a path on the core's file system; written atomically).
   * `format`: `simulation` (any bits, float QDQ simulation), `qdq` (deployable INT8 QDQ; needs `calib`), or
   * `matmul-nbits` (2/4/8-bit Gemm/MatMul weights). `actBits` (default 32, or 8 for qdq) quantizes the activation
   * inputs of quantized layers and needs `calib` (a dataset name; `calibSamples` from `calibOffset`, default the
   * last samples of the set). Progress stage: `calibration`.
   * Errors: `quant-no-layers`, `quant-bits-unsupported`, `quant-not-calibrated`, `quant-not-deployable`,
   * `quant-layer-unknown`, `dataset-unknown`, `cancelled`.
   */
  'quant.quantize': job(
    z.strictObject({
      model: ModelRefSchema,
      bits: QuantBitsSchema,
      actBits: quantActivationBits.optional(),
      format: z.enum(['simulation', 'qdq', 'matmul-nbits']),
      calib: DatasetRefSchema.optional(),
      calibSamples: posInt.optional(),
      calibOffset: nonNegInt.optional(),
      method: calibrationMethod.optional(),
      symmetric: z.boolean().optional(),
      granularity: z.enum(['tensor', 'channel', 'block']).optional(),
      blockSize: posInt.optional(),
      clipping: z.enum(['none', 'mse']).optional(),
      out: z.string().min(1).max(4096),
    }),
    QuantizeResultSchema,
  ),

  /**
   * Job: both degradation estimators for a model on a calibration slice of `dataset` (`samples`, default 2000,
   * from `offset`, default the last samples of the set): the measured sensitivity table (layer x `bits`, default
   * [8, 6, 5, 4, 3, 2]) and the noise model. Cached by model + dataset + settings. Progress stages:
   * `sensitivity`, `noise`. Errors: `model-unknown`, `dataset-unknown`, `calibration-empty`,
   * `calibration-too-large`, `quant-bits-unsupported`, `cancelled`.
   */
  'sensitivity.run': job(
    z.strictObject({
      model: ModelRefSchema,
      dataset: DatasetRefSchema,
      samples: posInt.optional(),
      offset: nonNegInt.optional(),
      bits: z.array(weightBits).min(1).max(8).optional(),
    }),
    SensitivityResultSchema,
  ),

  /**
   * The newest stored sensitivity table of a model (what the planner's `sensitivity` estimator uses), with the
   * dataset and number of samples it was measured on; null when none was measured yet. Errors: `model-unknown`.
   */
  'sensitivity.get': call(
    z.strictObject({ model: ModelRefSchema }),
    z.object({ sensitivity: z.object({ table: SensitivityTableSchema, dataset: z.string(), samples: nonNegInt, createdAt: isoDate }).nullable() }),
  ),

  /** Device profiles: the presets and the measured/custom ones in the store (store entries win by name). */
  'devices.list': call(NoArgSchema, z.object({ devices: z.array(DeviceProfileSchema) })),

  /** Link profiles: the presets and the measured/custom ones in the store. */
  'links.list': call(NoArgSchema, z.object({ links: z.array(LinkProfileSchema) })),

  /**
   * Solves a planning problem exactly: the cut, the bits of each head layer and the activation bits minimising
   * the objective under the constraints. Fast enough to call on every keystroke. An infeasible problem is an
   * answer (`status: 'infeasible'` with a report naming the tightest constraint and the nearest plan), not an
   * error.
   * Errors: `plan-problem-invalid` (inconsistencies the schema cannot see, e.g. two options with equal bits).
   */
  'plan.solve': call(z.strictObject({ problem: PlanningProblemSchema }), SolveResultSchema),

  /**
   * Builds the planning problem for a model on a device, link and server (default server `a100`), from its
   * (cached) static profile at `inputShape` and the newest stored estimator (`estimator`, default
   * `sensitivity`; `none` offers only lossless precisions, so only the cut is chosen). The result is a
   * self-contained document for `plan.solve` / `plan.pareto`.
   * Errors: `model-unknown`, `device-unknown`, `link-unknown`, `server-unknown`, `plan-no-estimator`.
   */
  'plan.build': call(
    z.strictObject({
      model: ModelRefSchema,
      device: z.string().min(1).max(200),
      link: z.string().min(1).max(200),
      server: z.string().min(1).max(200).optional(),
      estimator: z.enum(['sensitivity', 'noise', 'none']).optional(),
      objective: ObjectiveSchema,
      constraints: ConstraintsSchema,
      inputShape: InputShapeSchema.optional(),
    }),
    PlanningProblemSchema,
  ),

  /**
   * The Pareto front over (latency, energy, degradation, cost): for the problem's own objective weights and for
   * latency, energy and cost alone, sweeps `points` degradation budgets (default 50, denser at small budgets)
   * under the problem's other constraints, and keeps the non-dominated plans with the knee marked.
   * An empty front (`plans: []`, `knee: -1`) means no plan meets the other constraints.
   * Errors: `plan-problem-invalid`.
   */
  'plan.pareto': call(z.strictObject({ problem: PlanningProblemSchema, points: posInt.max(500).default(50) }), ParetoFrontSchema),

  /**
   * The baselines of a planning problem, computed with the same cost model as the solver: device-only FP32 and
   * INT8, full offload, Neurosurgeon (best cut, no quantization), uniform 8-bit head at the best cut, and bits-only
   * (mixed precision without a cut; absent when the problem's allowed bits make it impossible).
   * Errors: `plan-problem-invalid`.
   */
  'plan.baselines': call(z.strictObject({ problem: PlanningProblemSchema }), z.object({ baselines: z.array(BaselinePlanSchema) })),

  /**
   * Keeps a planning problem on the core for the live view: checked once (as `plan.solve` would) and named by the
   * SHA-256 of its content, so `plan.explore` can then send `{ problemId, objective, constraints }` (a few hundred
   * bytes) on each edit instead of the whole problem. Registering the same content again returns the same id. The
   * core keeps the most recently used problems (at least 8; see PROBLEM_REGISTRY_SIZE); a forgotten id fails with
   * `plan-problem-unknown`, and registering again is the answer.
   * Instead of `problem`, `{ baseId, patch }` registers a registered problem with some small parts replaced whole
   * (`device`, `link`, `server`, `objective`, `constraints`; not the layers or cuts): a device or link edit sends a
   * few hundred bytes. The id is the one the patched problem sent whole would get.
   * `lane` (as in plan.explore): the new problem supersedes that lane's, so a full sweep still running there is
   * abandoned now, before the new problem's plan.explore arrives, instead of competing with it for the core.
   * Errors: `plan-problem-invalid`, `plan-problem-unknown` (for `baseId`: register the whole problem).
   */
  'plan.register': call(
    z
      .strictObject({ problem: PlanningProblemSchema.optional(), baseId: ProblemIdSchema.optional(), patch: ProblemPatchSchema.optional(), lane: z.string().min(1).max(200).optional() })
      .refine((a) => (a.problem === undefined) !== (a.baseId === undefined) && (a.baseId === undefined) === (a.patch === undefined), {
        message: 'give either "problem", or "baseId" (an id plan.register returned) with "patch"',
        path: ['baseId'],
      }),
    z.object({ problemId: ProblemIdSchema, layers: posInt }),
  ),

  /**
   * Everything the live Pareto view redraws on an edit, in one call: the front (as plan.pareto), the optimal plan or
   * infeasibility report (as plan.solve) and the baselines. The problem is either sent whole (`problem`) or named by
   * the id `plan.register` returned (`problemId`); `objective` and `constraints` replace the problem's own. The
   * budget-independent work (the front's sweep, the compiled search, the fixed baselines) is kept per problem and
   * constraint shape, so a budget edit costs one solve and one bits-only search. `sweep: 'coarse'` trades the
   * front's resolution for time on a new problem.
   * Errors: `plan-problem-invalid`, `plan-problem-unknown` (register the problem again), `plan-superseded` (see `lane`).
   */
  'plan.explore': call(
    z
      .strictObject({
        problem: PlanningProblemSchema.optional(),
        problemId: ProblemIdSchema.optional(),
        objective: ObjectiveSchema.optional(),
        constraints: ConstraintsSchema.optional(),
        points: posInt.max(500).default(50),
        /**
         * 'coarse': the front's sweep under the problem's own weighting only (9 solves for 6 points instead of
         * 206 for 50), a quick first answer for a problem not explored before (a device or link edit) while the full
         * sweep is asked for next. Each of its plans is an exact optimum at some budget, but the full sweep finds
         * more (and may dominate some); the plan and baselines are the same as with 'full'.
         */
        sweep: z.enum(['full', 'coarse']).default('full'),
        /**
         * 'fixed': only the baselines that need no search (all but bits-only, a solve of its own: ~10 ms at
         * ResNet-50 scale on a new problem); the answer names the ones left out in `baselinesPending`. For the
         * coarse first answer, whose follow-up brings them all.
         */
        baselines: z.enum(['all', 'fixed']).default('all'),
        /**
         * Names a stream of requests (the notebook uses the cell id; lanes are shared by the core's clients): a
         * request arriving in a lane abandons the full sweep an earlier request of that lane is still waiting for,
         * which then fails with `plan-superseded`. Full sweeps run in slices either way, so other requests are
         * answered between their solves.
         */
        lane: z.string().min(1).max(200).optional(),
      })
      .refine((a) => (a.problem === undefined) !== (a.problemId === undefined), { message: 'give either "problem" or "problemId" (from plan.register), not both', path: ['problemId'] }),
    z.object({ front: ParetoFrontSchema, solve: SolveResultSchema, baselines: z.array(BaselinePlanSchema), baselinesPending: z.array(BaselinePlanSchema.shape.baseline).optional() }),
  ),

  /**
   * Runs one read-only SQL statement on the store (a read-only connection: writes are refused) and returns at
   * most `maxRows` rows (`truncated` says whether more existed). `params` bind `?` (array) or `@name` (object).
   * Errors: `query-invalid` (syntax, unknown table; the message quotes SQLite's), `query-not-read-only`.
   */
  'store.query': call(
    z.strictObject({
      sql: z.string().min(1).max(100_000),
      params: z.union([z.array(QueryCellSchema).max(1000), z.record(z.string(), QueryCellSchema)]).optional(),
      maxRows: posInt.max(100_000).default(10_000),
    }),
    z.object({ columns: z.array(z.string()), rows: z.array(z.array(QueryCellSchema)), truncated: z.boolean() }),
  ),

  /**
   * Asks a running job to stop. The job's `job.done` (error code `cancelled`) follows once it has stopped.
   * `cancelled` is false when the job had already finished. Errors: `job-unknown`.
   */
  'jobs.cancel': call(z.strictObject({ jobId: JobIdSchema }), z.object({ cancelled: z.boolean() })),

  /** The saved notebooks, most recently saved first (without their cells). */
  'notebooks.list': call(NoArgSchema, z.object({ notebooks: z.array(NotebookSummarySchema) })),

  /** One saved notebook. Errors: `notebook-unknown`. */
  'notebooks.get': call(z.strictObject({ id: z.string().min(1).max(64) }), z.object({ notebook: SavedNotebookSchema })),

  /**
   * Saves a notebook: without `id` it is created (the answer carries its new id); with `id` it replaces that
   * notebook. Errors: `notebook-unknown` (an id that does not exist).
   */
  'notebooks.save': call(z.strictObject({ notebook: NotebookSchema }), z.object({ notebook: SavedNotebookSchema })),

  /** Copies a saved notebook under a new id (name defaults to "<name> (copy)"). Errors: `notebook-unknown`. */
  'notebooks.duplicate': call(z.strictObject({ id: z.string().min(1).max(64), name: z.string().min(1).max(200).optional() }), z.object({ notebook: SavedNotebookSchema })),

  /** Deletes a saved notebook (its text file, if any, is untouched). `deleted` is false when there was none. */
  'notebooks.delete': call(z.strictObject({ id: z.string().min(1).max(64) }), z.object({ deleted: z.boolean() })),

  /** The agents attached to this workbench's hub, live, and the hub's address (null when no hub runs). */
  'agents.list': call(NoArgSchema, z.object({ hubUrl: z.string().nullable(), agents: z.array(AgentInfoSchema) })),

  /** The pairing tokens (never the tokens themselves: only their hashes are kept). */
  'agents.tokens': call(NoArgSchema, z.object({ tokens: z.array(PairingTokenSchema) })),

  /**
   * A new pairing token for `partita agent --token`: 256 random bits, returned here once and stored only as its
   * SHA-256. Errors: `agent-hub-off`.
   */
  'agents.pair': call(z.strictObject({ label: z.string().min(1).max(200) }), z.object({ id: posInt, label: z.string(), token: z.string(), hubUrl: z.string() })),

  /** Revokes a pairing token and drops the agents attached with it; `revoked` is false when it was not live. */
  'agents.revoke': call(z.strictObject({ id: posInt }), z.object({ revoked: z.boolean() })),

  /**
   * Job: micro-benchmarks on an attached agent, returned as a device profile; `saveAs` stores it as a measured
   * device of that name (for the planner). Errors: `agent-not-found`, `agent-disconnected`, `agent-timeout`.
   */
  'agents.bench': job(
    z.strictObject({ agent: z.string().min(1).max(100), runs: posInt.max(10_000).optional(), threads: posInt.max(256).optional(), saveAs: z.string().min(1).max(100).optional() }),
    DeviceProfileSchema,
  ),

  /**
   * Stores a plan chosen for a model (e.g. the one selected in a Pareto view) with the request it answers, so
   * `runs.start` can run it by id and predict it on the same device, link and server. Returns the new id.
   * Errors: `model-unknown`, `device-unknown`, `link-unknown`, `server-unknown`, `plan-invalid` (the cut is beyond
   * the model's layers, or `bits` does not have one width per head layer).
   */
  'plans.save': call(z.strictObject({ model: ModelRefSchema, request: PlanRequestSchema, plan: PlanShapeSchema }), z.object({ id: posInt })),

  /** The stored plans (optionally of one model), oldest first. Errors: `model-unknown`. */
  'plans.list': call(z.strictObject({ model: ModelRefSchema.optional() }), z.object({ plans: z.array(StoredPlanSchema) })),

  /**
   * Job: exports a plan as a folder, as `partita export` does: plan.json (schemas/plan.schema.json), head.onnx and
   * tail.onnx (runnable in onnxruntime), quantization.ort.json (ONNX Runtime quantizer overrides),
   * encodings.aimet.json (AIMET-style encodings) and report.html (the Pareto front as SVG). The plan is a stored plan
   * (`planId`, see plans.save) or a `plan` with the `request` it was chosen for; the problem is rebuilt from the
   * request for the predictions in plan.json. The folder is always `exports/<name>` beside the workbench's database
   * (`name` is a plain folder name, default `<model>-<UTC time>`); it is written under a temporary name and renamed
   * when complete, so a failed export leaves nothing. `calib` is the dataset whose last samples give activation
   * ranges, needed when the link or an INT8 head quantizes activations. Progress stages: `problem`, `partitions`,
   * `files`. Errors: `model-unknown`, `plan-unknown`, `plan-model-mismatch`, `plan-invalid`, `device-unknown`,
   * `link-unknown`, `server-unknown`, `plan-no-estimator`, `dataset-unknown`, `quant-not-calibrated`,
   * `export-exists`, `cancelled`.
   */
  'plans.export': job(
    z
      .strictObject({
        model: ModelRefSchema,
        planId: posInt.optional(),
        request: PlanRequestSchema.optional(),
        plan: PlanShapeSchema.optional(),
        format: z.enum(['simulation', 'qdq', 'matmul-nbits']).default('simulation'),
        calib: DatasetRefSchema.optional(),
        name: ExportNameSchema.optional(),
        inputShape: InputShapeSchema.optional(),
      })
      .refine((a) => (a.planId !== undefined ? a.request === undefined && a.plan === undefined : a.request !== undefined && a.plan !== undefined), {
        message: 'give either "planId" (a stored plan) or both "request" and "plan"',
        path: ['planId'],
      }),
    ExportResultSchema,
  ),

  /**
   * Job: runs a plan for real (head and tail as planned; the head locally in a device worker or on `agent`; the
   * cut tensors over the emulated `link`), stores the run beside the planner's prediction, and returns both.
   * `plan` is a stored plan id or a plan.json path on the core's file system. Progress stages: `build`,
   * `requests`. Errors: `plan-unknown`, `plan-file-invalid`, `plan-model-mismatch`, `run-profiles-missing`,
   * `quant-not-calibrated`, `agent-not-found`, `agent-disconnected`, `cancelled`.
   */
  'runs.start': job(
    z.strictObject({
      model: ModelRefSchema,
      plan: z.string().min(1).max(4096),
      device: z.string().min(1).max(200).optional(),
      link: z.string().min(1).max(200).optional(),
      server: z.string().min(1).max(200).optional(),
      requests: posInt.max(1_000_000).default(100),
      eval: DatasetRefSchema.optional(),
      offset: nonNegInt.optional(),
      calib: DatasetRefSchema.optional(),
      format: z.enum(['simulation', 'qdq', 'matmul-nbits']).optional(),
      pipelined: z.boolean().default(false),
      agent: z.string().min(1).max(100).optional(),
      retryOf: posInt.optional(),
    }),
    PlanRunResultSchema,
  ),

  /** The stored runs (optionally of one model), oldest first. Errors: `model-unknown`. */
  'runs.list': call(z.strictObject({ model: ModelRefSchema.optional() }), z.object({ runs: z.array(PlanRunSchema) })),
} as const satisfies Record<string, MethodSpec>;

/** The method names, in contract order. */
export const METHOD_NAMES = Object.keys(CONTRACT) as MethodName[];

// ---------------------------------------------------------------------------------------------------------------
// Events

/** Progress of a long job: `done` of `total` units of the named stage (units depend on the stage). */
export const JobProgressSchema = z.object({
  jobId: JobIdSchema,
  stage: z.string(),
  done: nonNeg,
  total: nonNeg,
});

/** The end of a long job: exactly one per job, after its last progress event. */
export const JobDoneSchema = z.union([
  z.object({ jobId: JobIdSchema, method: z.string(), result: z.unknown() }),
  z.object({ jobId: JobIdSchema, method: z.string(), error: ApiErrorSchema }),
]);

export const EVENTS = {
  /** A job advanced. Events of one job arrive in the order they were emitted. */
  'job.progress': JobProgressSchema,
  /** A job finished: `result` (the method's `jobResult`) or `error` (code `cancelled` after `jobs.cancel`). */
  'job.done': JobDoneSchema,
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Error codes of the RPC layer (any method may fail with these)

export const RPC_ERROR_CODES = {
  /** The method is not in this contract. */
  unknownMethod: 'rpc-unknown-method',
  /** The argument does not match the method's schema; `details.path` names the first bad field. */
  invalidArgument: 'rpc-invalid-argument',
  /** The method is in the contract but this core has no handler for it. */
  notImplemented: 'rpc-not-implemented',
  /** A request or answer holds something JSON cannot carry (a typed array, a function, NaN, a Date…). */
  notJson: 'rpc-not-json',
  /** A request or answer is larger than the transport's limit. */
  tooLarge: 'rpc-message-too-large',
  /** A message that is not a request, response or event (malformed JSON, missing id…). */
  badMessage: 'rpc-bad-message',
  /** The connection closed before the answer arrived. */
  closed: 'rpc-closed',
  /** No answer within the caller's timeout. */
  timeout: 'rpc-timeout',
  /** A bug in the core; the message starts with `Internal error:`, the stack stays in the core's log. */
  internal: 'internal-error',
  /** A job stopped because `jobs.cancel` asked it to. */
  cancelled: 'cancelled',
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Types

type Contract = typeof CONTRACT;
export type MethodName = keyof Contract;
/** The methods that start long jobs. */
export type JobMethodName = { [M in MethodName]: Contract[M] extends { kind: 'job' } ? M : never }[MethodName];
/** What a caller passes (defaults may be left out). */
export type ApiArg<M extends MethodName> = z.input<Contract[M]['arg']>;
/** What a handler receives: the argument after validation, defaults applied. */
export type ApiParsedArg<M extends MethodName> = z.output<Contract[M]['arg']>;
export type ApiResult<M extends MethodName> = z.output<Contract[M]['result']>;
/** The `result` of a job method's `job.done` event. */
export type ApiJobResult<M extends JobMethodName> = z.output<Contract[M]['jobResult']>;

// An argument whose keys are all optional may be left out.
type ArgParams<M extends MethodName> = Record<never, never> extends ApiArg<M> ? [arg?: ApiArg<M>] : [arg: ApiArg<M>];

/** The whole API as the renderer, agents and tests see it: method name -> (arg) => Promise<result>. */
export type CoreApi = { [M in keyof Contract]: (...arg: ArgParams<M>) => Promise<ApiResult<M>> };

export type EventName = keyof typeof EVENTS;
/** Event name -> payload. */
export type ApiEvents = { [E in keyof typeof EVENTS]: z.output<(typeof EVENTS)[E]> };
export type JobProgress = ApiEvents['job.progress'];
export type JobDone = ApiEvents['job.done'];
export type ApiErrorPayload = z.output<typeof ApiErrorSchema>;

export type ModelSummary = z.output<typeof ModelSummarySchema>;
export type Layer = z.output<typeof LayerSchema>;
export type ProfileRecordView = z.output<typeof ProfileRecordSchema>;
export type Dataset = z.output<typeof DatasetSchema>;
export type DeviceProfileView = z.output<typeof DeviceProfileSchema>;
export type LinkProfileView = z.output<typeof LinkProfileSchema>;
export type SolveResult = z.output<typeof SolveResultSchema>;
export type InfeasibilityReport = z.output<typeof InfeasibilityReportSchema>;
export type ParetoFrontView = z.output<typeof ParetoFrontSchema>;
export type BaselinePlanView = z.output<typeof BaselinePlanSchema>;
export type QuantConfigView = z.output<typeof QuantConfigSchema>;
export type NotebookCell = z.output<typeof NotebookCellSchema>;
export type AgentInfoView = z.output<typeof AgentInfoSchema>;
export type PairingTokenView = z.output<typeof PairingTokenSchema>;
export type PlanRunView = z.output<typeof PlanRunSchema>;
export type PlanRunResultView = z.output<typeof PlanRunResultSchema>;
export type StoredPlanView = z.output<typeof StoredPlanSchema>;
export type ExportResultView = z.output<typeof ExportResultSchema>;
export type Notebook = z.output<typeof NotebookSchema>;
export type SavedNotebook = z.output<typeof SavedNotebookSchema>;

export function isMethodName(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(CONTRACT, name);
}

export function isJobMethod(name: MethodName): name is JobMethodName {
  return CONTRACT[name].kind === 'job';
}

// PlanSchema must describe exactly the `Plan` the planner returns.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const planSchemaMatchesPlan: Same<z.output<typeof PlanSchema>, Plan> = true;
void planSchemaMatchesPlan;
