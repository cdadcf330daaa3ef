import { CoreError } from '../api/errors.js';
import type { DeviceProfile } from '../plan/devices.js';
import { applyStageFit, fitStage, medianWorst, type StageFit, type StageSample } from '../plan/profileRefit.js';
import { listPlanRuns } from '../store/planStore.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { resolveDevice } from './planning.js';
import { predictRun } from './runPlan.js';

export interface RefitResult {
  stage: 'device' | 'server';
  before: DeviceProfile;
  after: DeviceProfile;
  fit: StageFit;
  /** Median / worst relative stage error of the old profile on the same runs. */
  beforeError: { median: number; worst: number };
  runs: number[];
}

/**
 * Refits a stored device profile from the stored runs that used it: as the device (`stage: 'device'`, runs with a
 * head) or as the server (`stage: 'server'`, runs with a tail). Each run's stage is re-predicted with the current
 * profile, its per-inference overhead taken off, and the affine correction of core/plan/profileRefit.ts fitted to
 * the measured medians. The result is saved under `as` (default: the same name) in one write.
 */
export async function refitProfile(store: SqliteStore, name: string, stage: 'device' | 'server', o: { as?: string; save?: boolean } = {}): Promise<RefitResult> {
  const before = resolveDevice(store, name);
  const runs = listPlanRuns(store, { status: 'ok' }).filter((r) => (stage === 'device' ? r.device === name : r.server === name));
  const samples: StageSample[] = [];
  const used: number[] = [];
  for (const r of runs) {
    const model = store.findModel(r.modelId);
    const measured = r.measured as { median?: { deviceMs: number; serverMs: number } } | null;
    if (!model || !measured?.median) continue;
    const L = model.layerCount;
    if (stage === 'device' ? r.cut === 0 : r.cut === L) continue;
    // Re-predicted with the profile as it is now, so a refit of a refit starts from the current numbers.
    const p = await predictRun(store, model.name, r.plan, { device: stage === 'device' ? name : r.device, link: r.link, server: stage === 'server' ? name : r.server });
    const predicted = stage === 'device' ? p.breakdownMs.device : p.breakdownMs.server;
    samples.push({ layerSumMs: Math.max(0, predicted - (before.inferenceOverheadMs ?? 0)), measuredMs: stage === 'device' ? measured.median.deviceMs : measured.median.serverMs });
    used.push(r.id);
  }
  if (samples.length < 3) {
    throw new CoreError(
      'refit-too-few-runs',
      `Only ${samples.length} stored run(s) used '${name}' as the ${stage} (at least 3 with different plans are needed). Run more plans with \`partita run MODEL --plan ID\` first.`,
    );
  }
  const fit = fitStage(samples);
  const after = applyStageFit(before, fit, o.as ?? name);
  const beforeError = medianWorst(samples.map((s) => Math.abs(s.layerSumMs + (before.inferenceOverheadMs ?? 0) - s.measuredMs) / s.measuredMs));
  if (o.save !== false) store.saveDevice({ name: after.name, kind: 'measured', source: after.source, profile: after });
  return { stage, before, after, fit, beforeError, runs: used };
}
