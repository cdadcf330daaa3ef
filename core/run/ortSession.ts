import * as ort from 'onnxruntime-node';
import { CoreError } from '../api/errors.js';
import { mulberry32 } from '../util/random.js';

export interface SessionSettings {
  /** 'disabled' keeps the graph as written (one profiler event per node); 'all' fuses (QDQ → integer kernels). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Intra-op threads; the device side of a run uses the device's thread count. */
  threads?: number;
  enableProfiling?: boolean;
  profileFilePrefix?: string;
  /**
   * Graph transformers to skip (ORT's `optimization.disable_specified_optimizers`), e.g. 'QDQPropagationTransformer',
   * which otherwise moves a QuantizeLinear above a MaxPool and leaves the pool to a slow uint8 NCHW kernel when the
   * layer before it stays in float.
   */
  disabledOptimizers?: string[];
}

/** Creates an ORT session, turning the runtime's refusal into an error the user can act on. */
export async function createSession(bytes: Uint8Array, name: string, s: SessionSettings = {}): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(bytes, {
      graphOptimizationLevel: s.optimization ?? 'all',
      intraOpNumThreads: s.threads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      enableProfiling: s.enableProfiling ?? false,
      profileFilePrefix: s.profileFilePrefix,
      logSeverityLevel: 3,
      ...(s.disabledOptimizers?.length ? { extra: { optimization: { disable_specified_optimizers: s.disabledOptimizers.join(',') } } } : {}),
    });
  } catch (e) {
    const why = String((e as Error).message).split('\n')[0].slice(0, 300);
    throw new CoreError(
      'model-runtime-rejected',
      `ONNX Runtime cannot load model '${name}' (${why}). Check that every operator and opset is supported by onnxruntime ${ort.env.versions.node ?? ''}, or export the model again.`.replace(' )', ')'),
    );
  }
}

const ORT_TYPES: Record<string, 'float32' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool' | 'float16'> = {
  float32: 'float32', float64: 'float64', int64: 'int64', int32: 'int32', int8: 'int8', uint8: 'uint8', bool: 'bool', float16: 'float16',
};

/** A tensor of the given type and dims filled from a seeded generator: floats uniform in [0,1), integers 0. */
export function seededTensor(type: string, dims: number[], seed = 1): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const t = ORT_TYPES[type];
  if (t === 'float32') {
    const rand = mulberry32(seed);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = rand();
    return new ort.Tensor('float32', data, dims);
  }
  if (t === 'int64') return new ort.Tensor('int64', new BigInt64Array(n), dims);
  if (t === 'int32') return new ort.Tensor('int32', new Int32Array(n), dims);
  if (t === 'uint8') return new ort.Tensor('uint8', new Uint8Array(n), dims);
  if (t === 'int8') return new ort.Tensor('int8', new Int8Array(n), dims);
  if (t === 'bool') return new ort.Tensor('bool', new Uint8Array(n), dims);
  if (t === 'float64') return new ort.Tensor('float64', new Float64Array(n), dims);
  throw new CoreError('input-type-unsupported', `Model inputs of type '${type}' cannot be generated yet. Use a model whose inputs are float or integer tensors.`);
}

export { ort };
