// Persisted signing keys and minted tokens (only a hash of each token secret is stored).
import type { JWK } from 'jose';
import { ApiScope, type TokenKind } from '../../protocol/schemas.ts';
import type { StoredJwk } from '../key-seal.ts';
import type { SqlClient } from './sql.ts';

export interface KeyRecord {
  kid: string;
  privateJwk: StoredJwk;
  publicJwk: JWK;
  createdAt: number;
  retiredAt: number | null;
  expiresAt: number | null;
}

export async function insertKey(
  sql: SqlClient,
  key: Omit<KeyRecord, 'retiredAt' | 'expiresAt'>,
): Promise<void> {
  await sql.query(
    'INSERT INTO pw_keys (kid, private_jwk, public_jwk, created_at) VALUES ($1, $2::jsonb, $3::jsonb, $4)',
    [key.kid, JSON.stringify(key.privateJwk), JSON.stringify(key.publicJwk), key.createdAt],
  );
}

/** Keys still published: the newest unretired one signs. */
export async function liveKeys(sql: SqlClient, now: number): Promise<KeyRecord[]> {
  const rows = await sql.query(
    `SELECT kid, private_jwk, public_jwk, created_at, retired_at, expires_at FROM pw_keys
     WHERE expires_at IS NULL OR expires_at > $1 ORDER BY created_at DESC, kid`,
    [now],
  );
  return rows.map((r) => ({
    kid: r.kid as string,
    privateJwk: r.private_jwk as StoredJwk,
    publicJwk: r.public_jwk as JWK,
    createdAt: r.created_at as number,
    retiredAt: r.retired_at as number | null,
    expiresAt: r.expires_at as number | null,
  }));
}

/** Stores a key's private part anew (sealed with the current encryption key). */
export async function replacePrivateJwk(sql: SqlClient, kid: string, privateJwk: StoredJwk): Promise<void> {
  await sql.query('UPDATE pw_keys SET private_jwk = $2::jsonb WHERE kid = $1', [
    kid,
    JSON.stringify(privateJwk),
  ]);
}

/** Retires every key except `keepKid`: they stay published until `expiresAt`. */
export async function retireKeys(
  sql: SqlClient,
  keepKid: string,
  now: number,
  expiresAt: number,
): Promise<void> {
  await sql.query(
    'UPDATE pw_keys SET retired_at = $2, expires_at = $3 WHERE kid <> $1 AND retired_at IS NULL',
    [keepKid, now, expiresAt],
  );
}

export interface TokenRecord {
  id: string;
  kind: TokenKind;
  workerName: string | null;
  /** What an API token may do; null for a worker token. */
  scope: ApiScope | null;
  secretHash: string;
  revokedAt: number | null;
}

export async function insertToken(sql: SqlClient, token: Omit<TokenRecord, 'revokedAt'>, now: number) {
  await sql.query(
    'INSERT INTO pw_tokens (id, kind, worker_name, scope, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
    [token.id, token.kind, token.workerName, token.scope, token.secretHash, now],
  );
}

export async function findToken(sql: SqlClient, id: string): Promise<TokenRecord | undefined> {
  const rows = await sql.query(
    'SELECT id, kind, worker_name, scope, secret_hash, revoked_at FROM pw_tokens WHERE id = $1',
    [id],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    id: r.id as string,
    kind: r.kind as TokenRecord['kind'],
    workerName: r.worker_name as string | null,
    scope: r.kind === 'api' ? apiScopeOf(r.scope) : null,
    secretHash: r.secret_hash as string,
    revokedAt: r.revoked_at as number | null,
  };
}

/**
 * An API token row's scope. A row without one was written by an engine from before scopes (a replica not yet
 * upgraded): every API token was an administrator then, and the migration made the older rows `admin` too.
 */
function apiScopeOf(stored: unknown): ApiScope {
  return stored === null ? 'admin' : ApiScope.parse(stored);
}

/** Marks a token revoked (keeping the first revocation time); false when there is no such token. */
export async function revokeToken(sql: SqlClient, id: string, now: number): Promise<boolean> {
  const rows = await sql.query(
    'UPDATE pw_tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING id',
    [id, now],
  );
  return rows.length > 0;
}
