import { CoreError } from '../api/errors.js';
import { staticProfile } from '../profile/staticProfile.js';
import { profileLatency } from '../run/latencyProfile.js';
import { ort } from '../run/ortSession.js';
import { probeShapes, resolveInputDims } from '../run/shapeProbe.js';
import type { ProfileRecord, SqliteStore } from '../store/sqliteStore.js';
import { settingsHash } from '../util/hash.js';
import { loadModel } from './models.js';

export interface ProfileOptions {
  /** Per-input dims; key '*' applies to the only input. */
  inputShape?: Record<string, number[]>;
  batch?: number;
  /** Measure per-node latency too (runs the model `runs` times after `warmup`). */
  latency?: boolean;
  runs?: number;
  warmup?: number;
  threads?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface ProfileResult {
  static: ProfileRecord;
  latency?: ProfileRecord;
  /** Which of the two came from the cache (same model content and settings). */
  cached: { static: boolean; latency?: boolean };
}

/**
 * Static profile (shapes, params, MACs, activation bytes) and optionally measured per-node latency, each cached by
 * model content hash + settings: asking again with the same settings returns the stored rows.
 */
export async function profileModel(store: SqliteStore, ref: string | number, o: ProfileOptions = {}): Promise<ProfileResult> {
  const { row, proto, graph } = loadModel(store, ref);
  const inputDims = resolveInputDims(proto, graph, row.name, o.inputShape, o.batch ?? 1);
  const staticSettings = { inputDims };
  const staticHash = settingsHash({ sha256: row.sha256, ...staticSettings });
  let staticRec = store.findProfile(row.id, 'static', staticHash);
  const cached: ProfileResult['cached'] = { static: staticRec !== undefined };
  if (!staticRec) {
    o.onProgress?.('shapes', 0, 1);
    const shapes = await probeShapes(proto, graph, row.name, inputDims);
    const p = staticProfile(proto, graph, shapes);
    o.onProgress?.('shapes', 1, 1);
    staticRec = store.saveProfile({
      modelId: row.id,
      kind: 'static',
      settingsHash: staticHash,
      settings: staticSettings,
      summary: p.totals,
      layers: p.layers.map((l) => ({ ...l, latencyMs: null, latencyP90Ms: null })),
      tensors: [...shapes.values()].map((t) => ({ name: t.name, dataType: t.dataType, dims: t.dims, bytes: t.bytes })),
    });
  }
  if (!o.latency) return { static: staticRec, cached };

  const runs = o.runs ?? 20;
  const warmup = o.warmup ?? 3;
  const threads = o.threads ?? 1;
  if (!(runs >= 1 && runs <= 100000) || !(warmup >= 0) || !(threads >= 1)) {
    throw new CoreError('profile-settings-invalid', `Runs ${runs}, warm-up ${warmup}, threads ${threads}: use runs >= 1, warm-up >= 0, threads >= 1.`);
  }
  const latencySettings = { inputDims, runs, warmup, threads, optimization: 'disabled', ort: ort.env.versions.node ?? '' };
  const latencyHash = settingsHash({ sha256: row.sha256, ...latencySettings });
  let latencyRec = store.findProfile(row.id, 'latency', latencyHash);
  cached.latency = latencyRec !== undefined;
  if (!latencyRec) {
    const lp = await profileLatency(proto, graph, row.name, { runs, warmup, threads, inputDims }, (d, t) => o.onProgress?.('latency', d, t), o.signal);
    const byPos = new Map(staticRec.layers.map((l) => [l.position, l]));
    latencyRec = store.saveProfile({
      modelId: row.id,
      kind: 'latency',
      settingsHash: latencyHash,
      settings: latencySettings,
      summary: {
        sumOfLayerMediansMs: lp.sumOfLayerMediansMs,
        wholeModelMedianMs: lp.wholeModelMedianMs,
        profiledRunMedianMs: lp.profiledRunMedianMs,
        ratio: lp.ratio,
      },
      layers: lp.layers.map((l) => ({ ...byPos.get(l.position)!, latencyMs: l.medianMs, latencyP90Ms: l.p90Ms })),
      tensors: [],
    });
  }
  return { static: staticRec, latency: latencyRec, cached };
}
