import { CoreError } from '../api/errors.js';
import type { ModelGraph } from '../onnx/graph.js';
import { bytesPerElementOf } from '../onnx/elementTypes.js';
import { encodeModel } from '../onnx/modelCodec.js';
import { declaredValues, withExtraOutputs, withLayerNames } from '../onnx/modelEdit.js';
import type { onnx } from '../onnx/generated/onnxProto.js';
import { createSession, seededTensor, ort } from './ortSession.js';

export interface TensorShape {
  name: string;
  dataType: string;
  dims: number[];
  bytes: number;
}

/**
 * Concrete input dims: the user's override, else the declared dims with the first symbolic axis (batch) set to
 * `batch`. Any other symbolic axis needs an override because no default is honest for, say, an image's height.
 */
export function resolveInputDims(
  model: onnx.IModelProto,
  graph: ModelGraph,
  modelName: string,
  overrides: Record<string, number[]> = {},
  batch = 1,
): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const v of declaredValues(model, graph.inputs)) {
    const given = overrides[v.name] ?? (graph.inputs.length === 1 ? overrides['*'] : undefined);
    if (given) {
      if (given.length !== v.dims.length || given.some((d, i) => !(d > 0) || (typeof v.dims[i] === 'number' && v.dims[i] !== d))) {
        throw new CoreError(
          'input-shape-mismatch',
          `Input shape [${given.join(', ')}] does not fit input '${v.name}' of model '${modelName}', declared [${v.dims.join(', ')}]. Give one positive size per axis and keep the fixed ones.`,
        );
      }
      out[v.name] = given;
      continue;
    }
    const dims = v.dims.map((d, i) => (typeof d === 'number' ? d : i === 0 ? batch : NaN));
    if (dims.some(Number.isNaN)) {
      throw new CoreError(
        'input-shape-required',
        `Input '${v.name}' of model '${modelName}' has dynamic axes [${v.dims.join(', ')}]. Pass --input-shape, e.g. --input-shape ${v.dims.map((d, i) => (typeof d === 'number' ? d : i === 0 ? batch : 224)).join('x')}.`,
      );
    }
    out[v.name] = dims;
  }
  return out;
}

/**
 * Shapes and element types of every tensor for the given input dims, found by running the model once in ONNX
 * Runtime with every intermediate exposed as an output (graph left unoptimised, so every tensor exists).
 */
export async function probeShapes(
  model: onnx.IModelProto,
  graph: ModelGraph,
  modelName: string,
  inputDims: Record<string, number[]>,
): Promise<Map<string, TensorShape>> {
  const activations = graph.layers.flatMap((l) => l.outputs).filter(Boolean);
  const probe = withExtraOutputs(withLayerNames(model, graph), activations);
  const session = await createSession(encodeModel(probe), modelName, { optimization: 'disabled', threads: 1 });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    const declared = declaredValues(model, graph.inputs);
    declared.forEach((v, i) => (feeds[v.name] = seededTensor(v.dataType, inputDims[v.name], i + 1)));
    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = await session.run(feeds);
    } catch (e) {
      throw new CoreError(
        'model-run-failed',
        `Model '${modelName}' failed to run on inputs ${JSON.stringify(inputDims)} (${String((e as Error).message).split('\n')[0].slice(0, 300)}). Check --input-shape.`,
      );
    }
    const shapes = new Map<string, TensorShape>();
    for (const v of declared) {
      const dims = inputDims[v.name];
      shapes.set(v.name, { name: v.name, dataType: v.dataType, dims, bytes: byteSize(v.dataType, dims) });
    }
    for (const [name, t] of Object.entries(results)) {
      const dims = [...t.dims];
      shapes.set(name, { name, dataType: t.type, dims, bytes: byteSize(t.type, dims) });
      t.dispose();
    }
    return shapes;
  } finally {
    await session.release();
  }
}

function byteSize(dataType: string, dims: number[]): number {
  return Math.ceil(dims.reduce((a, b) => a * b, 1) * bytesPerElementOf(dataType));
}
