import type { LayerSample } from '../plan/latencyPredictor.js';
import type { ProfileRecord, SqliteStore } from '../store/sqliteStore.js';

/**
 * Per-layer regression samples from a stored static profile and a latency profile of the same model: MACs,
 * bytes moved (activations read and written plus weights) and the measured median latency.
 */
export function layerSamples(store: SqliteStore, modelName: string, staticProfile: ProfileRecord, latency: ProfileRecord): LayerSample[] {
  const bytesOf = new Map(staticProfile.tensors.map((t) => [t.name, t.bytes]));
  const layers = store.layers(staticProfile.modelId);
  const lat = new Map(latency.layers.map((l) => [l.position, l.latencyMs ?? 0]));
  const dims = new Map(store.tensors(staticProfile.modelId).map((t) => [t.name, t.dims]));
  return staticProfile.layers.map((l) => {
    const io = layers[l.position - 1];
    const inBytes = io.inputs.filter((x) => x && !io.weightInputs.includes(x)).reduce((a, x) => a + (bytesOf.get(x) ?? 0), 0);
    return {
      model: modelName,
      opType: opFamily(l.opType, dims.get(io.weightInputs[0] ?? '') ?? null),
      macs: l.macs ?? 0,
      bytes: inBytes + (l.outBytes ?? 0) + (l.weightBytes ?? 0),
      latencyMs: lat.get(l.position) ?? 0,
    };
  });
}

/**
 * Convolutions differ too much in arithmetic intensity to share one regression: depthwise (one input channel per
 * group), pointwise (1x1) and spatial kernels get their own families, as Neurosurgeon splits layer types.
 */
export function opFamily(opType: string, weightDims: number[] | null): string {
  if (opType !== 'Conv' || !weightDims || weightDims.length < 3) return opType;
  if (weightDims[1] === 1 && weightDims[0] > 1) return 'Conv:depthwise';
  return weightDims.slice(2).every((k) => k === 1) ? 'Conv:pointwise' : 'Conv:spatial';
}
