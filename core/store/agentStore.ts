import type { SqliteStore } from './sqliteStore.js';

/** Typed queries for the device-agent tables (migration 4): pairing tokens and runs on agents. */

export interface PairingTokenRow {
  id: number;
  label: string;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export interface AgentRunRequestRow {
  index: number;
  deviceMs: number;
  deviceComputeMs: number;
  uplinkMs: number;
  serverMs: number;
  latencyMs: number;
  uplinkBytes: number;
}

export interface AgentRunRow {
  id: number;
  runUid: string;
  agentName: string;
  tokenId: number | null;
  modelId: number | null;
  headSha256: string | null;
  status: 'ok' | 'failed';
  errorCode: string | null;
  errorMessage: string | null;
  retryOf: number | null;
  settings: Record<string, unknown>;
  result: Record<string, unknown> | null;
  createdAt: string;
}

const now = (): string => new Date().toISOString();

export function insertPairingToken(store: SqliteStore, label: string, tokenSha256: string): PairingTokenRow {
  const createdAt = now();
  const id = Number(store.db.prepare('INSERT INTO agent_tokens (label, token_sha256, created_at) VALUES (?, ?, ?)').run(label, tokenSha256, createdAt).lastInsertRowid);
  return { id, label, createdAt, revokedAt: null, lastUsedAt: null };
}

/** The live (not revoked) token with this hash, marking it used. */
export function useActiveToken(store: SqliteStore, tokenSha256: string): PairingTokenRow | undefined {
  const r: any = store.db.prepare('SELECT * FROM agent_tokens WHERE token_sha256 = ? AND revoked_at IS NULL').get(tokenSha256);
  if (!r) return undefined;
  const lastUsedAt = now();
  store.db.prepare('UPDATE agent_tokens SET last_used_at = ? WHERE id = ?').run(lastUsedAt, r.id);
  return { id: r.id, label: r.label, createdAt: r.created_at, revokedAt: null, lastUsedAt };
}

export function isTokenActive(store: SqliteStore, id: number): boolean {
  return store.db.prepare('SELECT 1 FROM agent_tokens WHERE id = ? AND revoked_at IS NULL').get(id) !== undefined;
}

/** Revokes a token; false when there is no such live token. */
export function revokePairingToken(store: SqliteStore, id: number): boolean {
  return store.db.prepare('UPDATE agent_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now(), id).changes === 1;
}

export function listPairingTokens(store: SqliteStore): PairingTokenRow[] {
  return store.db
    .prepare('SELECT id, label, created_at, revoked_at, last_used_at FROM agent_tokens ORDER BY id')
    .all()
    .map((r: any) => ({ id: r.id, label: r.label, createdAt: r.created_at, revokedAt: r.revoked_at, lastUsedAt: r.last_used_at }));
}

/** Writes a run and (for a successful one) its request rows in one transaction: all of it or nothing. */
export function saveAgentRun(
  store: SqliteStore,
  run: Omit<AgentRunRow, 'id' | 'createdAt'>,
  requests: readonly AgentRunRequestRow[],
): AgentRunRow {
  return store.transaction(() => {
    const createdAt = now();
    const id = Number(
      store.db
        .prepare(
          `INSERT INTO agent_runs (run_uid, agent_name, token_id, model_id, head_sha256, status, error_code, error_message, retry_of,
             settings_json, result_json, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          run.runUid,
          run.agentName,
          run.tokenId,
          run.modelId,
          run.headSha256,
          run.status,
          run.errorCode,
          run.errorMessage,
          run.retryOf,
          JSON.stringify(run.settings),
          run.result === null ? null : JSON.stringify(run.result),
          createdAt,
        ).lastInsertRowid,
    );
    const insert = store.db.prepare(
      `INSERT INTO agent_run_requests (run_id, idx, device_ms, device_compute_ms, uplink_ms, server_ms, latency_ms, uplink_bytes)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const q of requests) insert.run(id, q.index, q.deviceMs, q.deviceComputeMs, q.uplinkMs, q.serverMs, q.latencyMs, q.uplinkBytes);
    return { ...run, id, createdAt };
  });
}

function toRun(r: any): AgentRunRow {
  return {
    id: r.id,
    runUid: r.run_uid,
    agentName: r.agent_name,
    tokenId: r.token_id,
    modelId: r.model_id,
    headSha256: r.head_sha256,
    status: r.status,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    retryOf: r.retry_of,
    settings: JSON.parse(r.settings_json),
    result: r.result_json === null ? null : JSON.parse(r.result_json),
    createdAt: r.created_at,
  };
}

export function listAgentRuns(store: SqliteStore): AgentRunRow[] {
  return store.db.prepare('SELECT * FROM agent_runs ORDER BY id').all().map(toRun);
}

export function findAgentRun(store: SqliteStore, id: number): AgentRunRow | undefined {
  const r = store.db.prepare('SELECT * FROM agent_runs WHERE id = ?').get(id);
  return r ? toRun(r) : undefined;
}

export function agentRunRequests(store: SqliteStore, runId: number): AgentRunRequestRow[] {
  return store.db
    .prepare('SELECT * FROM agent_run_requests WHERE run_id = ? ORDER BY idx')
    .all(runId)
    .map((r: any) => ({ index: r.idx, deviceMs: r.device_ms, deviceComputeMs: r.device_compute_ms, uplinkMs: r.uplink_ms, serverMs: r.server_ms, latencyMs: r.latency_ms, uplinkBytes: r.uplink_bytes }));
}
