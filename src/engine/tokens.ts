// Engine-side token checks: minted tokens (hashed in the store, cached briefly) and static API tokens.

import { timingSafeEqual } from '../auth/hash.ts';
import { mintToken, parseToken, type TokenKind, tokenMatches } from '../auth/tokens.ts';
import { PushworkerError } from '../protocol/errors.ts';
import { type ApiScope, scopeAllows } from '../protocol/schemas.ts';
import { findToken, insertToken, revokeToken } from './store/secrets.ts';
import type { Sql } from './store/sql.ts';

export interface Principal {
  kind: TokenKind;
  /** For worker tokens: the one worker name the token speaks for. */
  workerName: string | null;
  /** For API tokens: what the token may do. */
  scope: ApiScope | null;
  /** The minted token's id; null for a static API token. */
  tokenId: string | null;
}

const CACHE_MS = 10_000;

export class TokenAuthority {
  private cache = new Map<string, { principal: Principal; until: number }>();

  constructor(
    private readonly sql: Sql,
    private readonly staticApiTokens: string[],
  ) {}

  /** Mints a token; an API token is `admin` unless given a lesser scope. */
  async create(
    kind: TokenKind,
    workerName?: string,
    scope?: ApiScope,
  ): Promise<{ id: string; token: string; scope?: ApiScope }> {
    if (kind === 'worker' && !workerName)
      throw new PushworkerError('invalid_request', 'a worker token needs a worker name');
    if (kind === 'worker' && scope)
      throw new PushworkerError(
        'invalid_request',
        'a worker token has no scope: it speaks for one worker name',
      );
    const apiScope = kind === 'api' ? (scope ?? 'admin') : null;
    const minted = await mintToken();
    await insertToken(
      this.sql,
      {
        id: minted.id,
        kind,
        workerName: kind === 'worker' ? workerName! : null,
        scope: apiScope,
        secretHash: minted.secretHash,
      },
      Date.now(),
    );
    return { id: minted.id, token: minted.token, ...(apiScope ? { scope: apiScope } : {}) };
  }

  /** Resolves a bearer token of the wanted kind, or throws `unauthorized`. */
  async authenticate(token: string | undefined, kind: TokenKind): Promise<Principal> {
    const principal = token ? await this.resolve(token) : undefined;
    if (!principal || principal.kind !== kind) {
      throw new PushworkerError('unauthorized', `a valid ${kind} token is required`);
    }
    return principal;
  }

  /** Resolves an API token that allows `scope`: `unauthorized` without a valid one, `forbidden` when it allows less. */
  async authorize(token: string | undefined, scope: ApiScope): Promise<Principal> {
    const principal = await this.authenticate(token, 'api');
    if (!scopeAllows(principal.scope!, scope)) {
      throw new PushworkerError(
        'forbidden',
        `this route needs a token of scope ${scope} or more; this token's scope is ${principal.scope}`,
      );
    }
    return principal;
  }

  /** Revokes a minted token; false when there is no such token. Takes effect here at once. */
  async revoke(id: string): Promise<boolean> {
    const found = await revokeToken(this.sql, id, Date.now());
    this.forget([id]);
    return found;
  }

  /** Drops cached answers, for the given token ids or all (a revocation, here or on another replica). */
  forget(ids?: string[]): void {
    if (!ids) {
      this.cache.clear();
      return;
    }
    const gone = new Set(ids);
    for (const [token, entry] of this.cache)
      if (entry.principal.tokenId !== null && gone.has(entry.principal.tokenId)) this.cache.delete(token);
  }

  private async resolve(token: string): Promise<Principal | undefined> {
    const now = Date.now();
    const hit = this.cache.get(token);
    if (hit && hit.until > now) return hit.principal;
    let principal: Principal | undefined;
    if (this.staticApiTokens.some((t) => timingSafeEqual(t, token)))
      principal = { kind: 'api', workerName: null, scope: 'admin', tokenId: null };
    else {
      const parsed = parseToken(token);
      const record = parsed ? await findToken(this.sql, parsed.id) : undefined;
      if (
        parsed &&
        record &&
        record.revokedAt === null &&
        (await tokenMatches(parsed.secret, record.secretHash))
      ) {
        principal = {
          kind: record.kind,
          workerName: record.workerName,
          scope: record.scope,
          tokenId: record.id,
        };
      }
    }
    if (principal) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(token, { principal, until: now + CACHE_MS });
    }
    return principal;
  }
}
