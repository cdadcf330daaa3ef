import type { SqliteStore } from './sqliteStore.js';

/**
 * Typed queries for stored plans and their runs (migration 5). A plan row keeps the chosen plan and the request it
 * answers (device, link, server, objective, constraints) so `partita run --plan ID` can rebuild what was predicted.
 * A run row is written once, when the run ends, in one transaction with its request rows.
 */

export interface StoredPlan {
  id: number;
  modelId: number;
  request: Record<string, unknown> | null;
  plan: { cut: number; bits: number[]; activationBits: number | null };
  createdAt: string;
}

export interface PlanRunRequestRow {
  index: number;
  deviceMs: number;
  uplinkMs: number;
  serverMs: number;
  downlinkMs: number;
  latencyMs: number;
  uplinkBytes: number;
  /** The sample's label and the predicted class, when the run evaluated a labelled dataset. */
  label: number | null;
  predicted: number | null;
}

export interface PlanRunRow {
  id: number;
  planId: number | null;
  modelId: number;
  target: 'local' | 'agent';
  agentName: string | null;
  device: string;
  link: string;
  server: string;
  cut: number;
  plan: { cut: number; bits: number[]; activationBits: number | null };
  status: 'ok' | 'failed';
  errorCode: string | null;
  errorMessage: string | null;
  retryOf: number | null;
  requests: number;
  pipelined: boolean;
  /** The planner's per-request prediction (ms per stage), null when it could not be made. */
  predicted: Record<string, unknown> | null;
  /** Stage summaries, throughput, bytes (null for a failed run). */
  measured: Record<string, unknown> | null;
  top1: number | null;
  createdAt: string;
}

const now = (): string => new Date().toISOString();
const json = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));
const parse = (s: string | null): any => (s === null ? null : JSON.parse(s));

export function savePlan(store: SqliteStore, p: Omit<StoredPlan, 'id' | 'createdAt'>): StoredPlan {
  const createdAt = now();
  const id = Number(
    store.db.prepare('INSERT INTO plans (model_id, request_json, plan_json, created_at) VALUES (?, ?, ?, ?)').run(p.modelId, json(p.request), JSON.stringify(p.plan), createdAt)
      .lastInsertRowid,
  );
  return { ...p, id, createdAt };
}

export function findPlan(store: SqliteStore, id: number): StoredPlan | undefined {
  const r: any = store.db.prepare('SELECT * FROM plans WHERE id = ?').get(id);
  return r ? { id: r.id, modelId: r.model_id, request: parse(r.request_json), plan: JSON.parse(r.plan_json), createdAt: r.created_at } : undefined;
}

export function listPlans(store: SqliteStore, modelId?: number): StoredPlan[] {
  const rows: any[] = modelId === undefined ? store.db.prepare('SELECT * FROM plans ORDER BY id').all() : store.db.prepare('SELECT * FROM plans WHERE model_id = ? ORDER BY id').all(modelId);
  return rows.map((r) => ({ id: r.id, modelId: r.model_id, request: parse(r.request_json), plan: JSON.parse(r.plan_json), createdAt: r.created_at }));
}

/** Writes a run and (for a successful one) its request rows in one transaction: all of it or nothing. */
export function savePlanRun(store: SqliteStore, run: Omit<PlanRunRow, 'id' | 'createdAt' | 'cut'>, requests: readonly PlanRunRequestRow[]): PlanRunRow {
  return store.transaction(() => {
    const createdAt = now();
    const id = Number(
      store.db
        .prepare(
          `INSERT INTO plan_runs (plan_id, model_id, target, agent_name, device, link, server, cut, plan_json, status, error_code, error_message,
             retry_of, requests, pipelined, predicted_json, measured_json, top1, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          run.planId,
          run.modelId,
          run.target,
          run.agentName,
          run.device,
          run.link,
          run.server,
          run.plan.cut,
          JSON.stringify(run.plan),
          run.status,
          run.errorCode,
          run.errorMessage,
          run.retryOf,
          run.requests,
          run.pipelined ? 1 : 0,
          json(run.predicted),
          json(run.measured),
          run.top1,
          createdAt,
        ).lastInsertRowid,
    );
    const insert = store.db.prepare(
      `INSERT INTO plan_run_requests (run_id, idx, device_ms, uplink_ms, server_ms, downlink_ms, latency_ms, uplink_bytes, label, predicted)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const q of requests) insert.run(id, q.index, q.deviceMs, q.uplinkMs, q.serverMs, q.downlinkMs, q.latencyMs, q.uplinkBytes, q.label, q.predicted);
    return { ...run, id, cut: run.plan.cut, createdAt };
  });
}

function toRun(r: any): PlanRunRow {
  return {
    id: r.id,
    planId: r.plan_id,
    modelId: r.model_id,
    target: r.target,
    agentName: r.agent_name,
    device: r.device,
    link: r.link,
    server: r.server,
    cut: r.cut,
    plan: JSON.parse(r.plan_json),
    status: r.status,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    retryOf: r.retry_of,
    requests: r.requests,
    pipelined: r.pipelined === 1,
    predicted: parse(r.predicted_json),
    measured: parse(r.measured_json),
    top1: r.top1,
    createdAt: r.created_at,
  };
}

export function listPlanRuns(store: SqliteStore, filter: { modelId?: number; device?: string; status?: 'ok' | 'failed' } = {}): PlanRunRow[] {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const [column, value] of [['model_id', filter.modelId], ['device', filter.device], ['status', filter.status]] as const) {
    if (value === undefined) continue;
    where.push(`${column} = ?`);
    params.push(value);
  }
  return store.db
    .prepare(`SELECT * FROM plan_runs ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id`)
    .all(...params)
    .map(toRun);
}

export function findPlanRun(store: SqliteStore, id: number): PlanRunRow | undefined {
  const r = store.db.prepare('SELECT * FROM plan_runs WHERE id = ?').get(id);
  return r ? toRun(r) : undefined;
}

export function planRunRequests(store: SqliteStore, runId: number): PlanRunRequestRow[] {
  return store.db
    .prepare('SELECT * FROM plan_run_requests WHERE run_id = ? ORDER BY idx')
    .all(runId)
    .map((r: any) => ({
      index: r.idx,
      deviceMs: r.device_ms,
      uplinkMs: r.uplink_ms,
      serverMs: r.server_ms,
      downlinkMs: r.downlink_ms,
      latencyMs: r.latency_ms,
      uplinkBytes: r.uplink_bytes,
      label: r.label,
      predicted: r.predicted,
    }));
}
