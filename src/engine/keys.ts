// The engine's signing keys: configured, or generated and persisted on first start; rotation keeps old keys published.

import { createHmac, KeyObject, sign } from 'node:crypto';
import type { JWK } from 'jose';
import {
  generateSigningKey,
  importSigningKey,
  publicJwkOf,
  type SigningKey,
  signingKeyFromSecret,
} from '../auth/keys.ts';
import type { KeySeal } from './key-seal.ts';
import { insertKey, liveKeys, replacePrivateJwk, retireKeys } from './store/secrets.ts';
import type { Sql, SqlClient } from './store/sql.ts';

export interface KeyRingOptions {
  /** Private JWK as JSON text; when set nothing is generated or persisted. */
  signingKey?: string | undefined;
  /** HS256 shared secret; when set no JWKS is published. */
  secret?: string | undefined;
  retireMs: number;
  /** Seals generated private keys before they are stored, and opens them when they are read. */
  seal: KeySeal;
}

export class KeyRing {
  private current: SigningKey | undefined;
  private published: JWK[] = [];
  private currentKid: string | undefined;
  private loadedAt = 0;

  constructor(
    private readonly sql: Sql,
    private readonly options: KeyRingOptions,
  ) {}

  get fixed(): boolean {
    return Boolean(this.options.signingKey || this.options.secret);
  }

  /** Loads the keys, generating and persisting the first one when the store has none. */
  async load(now = Date.now()): Promise<void> {
    if (this.options.secret) {
      this.current = withNodeSigner(signingKeyFromSecret(this.options.secret));
      return;
    }
    if (this.options.signingKey) {
      const jwk = JSON.parse(this.options.signingKey) as JWK;
      this.current = withNodeSigner(await importSigningKey(jwk));
      this.published = [publicJwkOf(jwk)];
      return;
    }
    let keys = await liveKeys(this.sql, now);
    if (!keys.some((k) => k.retiredAt === null)) {
      // Replicas starting together must agree on one first key.
      await this.sql.transaction(async (tx) => {
        await tx.query(`SELECT pg_advisory_xact_lock(hashtext('pushworker:keys'))`);
        if (!(await liveKeys(tx, now)).some((k) => k.retiredAt === null)) await this.insertGenerated(now, tx);
      });
      keys = await liveKeys(this.sql, now);
    }
    this.loadedAt = now;
    const signer = keys.find((k) => k.retiredAt === null)!;
    if (signer.kid !== this.currentKid) {
      const privateJwk = await this.options.seal.open(signer.privateJwk, signer.kid);
      this.current = withNodeSigner(await importSigningKey(privateJwk));
      this.currentKid = signer.kid;
    }
    // Keys stored before encryption was configured, or sealed with a key since replaced, are sealed anew.
    for (const key of keys) {
      if (!this.options.seal.stale(key.privateJwk)) continue;
      const privateJwk = await this.options.seal.open(key.privateJwk, key.kid);
      await replacePrivateJwk(this.sql, key.kid, await this.options.seal.seal(privateJwk, key.kid));
    }
    this.published = keys.map((k) => k.publicJwk);
  }

  /** A new key signs from now on; the others stay published for `retireMs`. */
  async rotate(now = Date.now()): Promise<string> {
    if (this.fixed) throw new TypeError('a configured signing key cannot be rotated by the engine');
    const kid = await this.insertGenerated(now);
    await retireKeys(this.sql, kid, now, now + this.options.retireMs);
    await this.load(now);
    return kid;
  }

  signing(): SigningKey {
    if (!this.current) throw new Error('the key ring is not loaded');
    return this.current;
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.published };
  }

  /** Re-reads the published keys when older than `maxAgeMs`, so every replica serves a rotation soon. */
  async refresh(maxAgeMs: number, now = Date.now()): Promise<void> {
    if (!this.fixed && now - this.loadedAt >= maxAgeMs) await this.load(now);
  }

  private async insertGenerated(now: number, sql: SqlClient = this.sql): Promise<string> {
    const generated = await generateSigningKey(
      'EdDSA',
      `pw-${now.toString(36)}-${crypto.randomUUID().slice(0, 8)}`,
    );
    const kid = generated.signing.kid!;
    await insertKey(sql, {
      kid,
      privateJwk: await this.options.seal.seal(generated.privateJwk, kid),
      publicJwk: generated.publicJwk,
      createdAt: now,
    });
    return kid;
  }
}

/**
 * The key with a node:crypto signer. jose signs with WebCrypto, which on Node is a thread-pool job whose answer
 * then waits its turn in the event loop; on a busy engine that wait was most of the time to sign a push. The
 * tokens are the ones jose makes: EdDSA and HMAC signatures are deterministic, and ES256 ones verify alike.
 */
export function withNodeSigner(key: SigningKey): SigningKey {
  if (key.key instanceof Uint8Array) {
    const secret = key.key;
    return { ...key, signNow: (input) => createHmac('sha256', secret).update(input).digest('base64url') };
  }
  const keyObject = KeyObject.from(key.key);
  const signNow =
    key.alg === 'ES256'
      ? (input: string) =>
          sign('sha256', Buffer.from(input), { key: keyObject, dsaEncoding: 'ieee-p1363' }).toString(
            'base64url',
          )
      : (input: string) => sign(null, Buffer.from(input), keyObject).toString('base64url');
  return { ...key, signNow };
}
