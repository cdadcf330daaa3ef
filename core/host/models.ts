import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { CoreError } from '../api/errors.js';
import { sha256Hex } from '../util/hash.js';
import { buildGraph, type ModelGraph } from '../onnx/graph.js';
import { onnx } from '../onnx/generated/onnxProto.js';
import { decodeModel, encodeModel, int64ToNumber, resolveExternalData } from '../onnx/modelCodec.js';
import { declaredValues } from '../onnx/modelEdit.js';
import { createSession } from '../run/ortSession.js';
import type { ModelRow, SqliteStore } from '../store/sqliteStore.js';

/** A model ready to work on: its row, its decoded proto and its graph IR. */
export interface LoadedModel {
  row: ModelRow;
  proto: onnx.IModelProto;
  graph: ModelGraph;
}

export interface ImportResult {
  model: ModelRow;
  /** True when the same content was already in the database and its row was reused. */
  reused: boolean;
}

/**
 * Imports an ONNX file: decode, load external data, validate the graph, prove ONNX Runtime accepts it, then write
 * the model, its file, its layers and tensors in one transaction. The same content imported twice reuses the row.
 */
export async function importModel(store: SqliteStore, path: string, opts: { name?: string } = {}): Promise<ImportResult> {
  const abs = resolve(path);
  const fileName = basename(abs);
  if (!existsSync(abs) || !statSync(abs).isFile()) {
    throw new CoreError('model-file-missing', `Model file '${path}' does not exist. Check the path.`);
  }
  const original = new Uint8Array(readFileSync(abs));
  const proto = decodeModel(original, fileName);
  const external = hasExternalData(proto);
  if (external) {
    try {
      await resolveExternalData(proto, dirname(abs));
    } catch (e) {
      // The codec speaks of tensors; the user needs to know which model file it was.
      if (e instanceof CoreError) throw new CoreError(e.code, `Model '${fileName}': ${e.message}`);
      throw e;
    }
  }
  const graph = buildGraph(proto, fileName);
  // A model with external data is stored self-contained, so the database never depends on files beside it.
  const content = external ? encodeModel(proto) : original;
  const sha256 = sha256Hex(content);

  const existing = store.modelBySha(sha256);
  if (existing) return { model: existing, reused: true };

  if (opts.name !== undefined) validateName(opts.name);
  if (opts.name !== undefined && store.modelNameTaken(opts.name)) {
    throw new CoreError('model-name-taken', `A different model is already named '${opts.name}'. Choose another --name.`);
  }
  const name = opts.name ?? freeName(store, fileName.replace(/\.onnx$/i, ''));

  const session = await createSession(content, fileName, { optimization: 'disabled' });
  await session.release();

  const uniqueWeights = new Set(graph.layers.flatMap((l) => l.weightInputs));
  const weightList = [...uniqueWeights].map((w) => graph.weights.get(w)!);
  const model = store.insertModel(
    {
      sha256,
      name,
      sourcePath: abs,
      bytes: content.byteLength,
      irVersion: int64ToNumber(proto.irVersion),
      opset: graph.opsets[''] ?? 0,
      producer: [proto.producerName, proto.producerVersion].filter(Boolean).join(' '),
      layerCount: graph.layers.length,
      paramCount: weightList.reduce((a, w) => a + w.elementCount, 0),
      weightBytes: weightList.reduce((a, w) => a + w.bytes, 0),
      inputs: declaredValues(proto, graph.inputs),
      outputs: declaredValues(proto, graph.outputs),
    },
    content,
    graph.layers.map((l) => ({
      position: l.position,
      name: l.name,
      opType: l.opType,
      domain: l.domain,
      inputs: l.inputs,
      outputs: l.outputs,
      weightInputs: l.weightInputs,
    })),
    [...graph.tensors.values()].map((t) => {
      const w = graph.weights.get(t.name);
      return {
        name: t.name,
        kind: t.kind,
        producer: t.producer,
        consumers: t.consumers,
        isOutput: t.isGraphOutput,
        dataType: w?.dataType ?? null,
        dims: w?.dims ?? null,
        bytes: w?.bytes ?? null,
      };
    }),
  );
  return { model, reused: false };
}

/** Decodes a stored model; its content was validated on import, so failures here are bugs. */
export function loadModel(store: SqliteStore, ref: string | number): LoadedModel {
  const row = store.requireModel(ref);
  const proto = decodeModel(store.modelContent(row.id), row.name);
  return { row, proto, graph: buildGraph(proto, row.name) };
}

function hasExternalData(m: onnx.IModelProto): boolean {
  const T = onnx.TensorProto.DataLocation.EXTERNAL;
  const inGraph = (g: onnx.IGraphProto | null | undefined): boolean =>
    !!g &&
    ((g.initializer ?? []).some((t) => t.dataLocation === T) ||
      (g.node ?? []).some((n) => (n.attribute ?? []).some((a) => a.t?.dataLocation === T || inGraph(a.g) || (a.graphs ?? []).some(inGraph))));
  return inGraph(m.graph);
}

function validateName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name) || /^\d+$/.test(name)) {
    throw new CoreError(
      'model-name-invalid',
      `Model name '${name}' is not allowed. Use letters, digits, '.', '_' or '-', start with a letter or digit, and not only digits.`,
    );
  }
}

function freeName(store: SqliteStore, base: string): string {
  const clean = base.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '') || 'model';
  const stem = /^\d+$/.test(clean) ? `model-${clean}` : clean;
  let name = stem;
  for (let i = 2; store.modelNameTaken(name); i++) name = `${stem}-${i}`;
  return name;
}
