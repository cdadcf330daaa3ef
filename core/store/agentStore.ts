import type { SqliteStore } from './sqliteStore.js';

/** Typed queries for the device agents' pairing tokens (migration 4). Runs on agents are plan runs (planStore.ts). */

export interface PairingTokenRow {
  id: number;
  label: string;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
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
