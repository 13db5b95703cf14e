// Private signing keys sealed at rest: encrypted (JWE, A256GCM) with a key from the environment before they are stored.
import { createHash } from 'node:crypto';
import { CompactEncrypt, compactDecrypt, decodeProtectedHeader, type JWK } from 'jose';
import { PushworkerError } from '../protocol/errors.ts';

/** What `pw_keys.private_jwk` holds: the JWK itself, or the JWK sealed. */
export type StoredJwk = JWK | { sealed: string };

const KEY_BYTES = 32;

export function isSealed(stored: StoredJwk): stored is { sealed: string } {
  return typeof (stored as { sealed?: unknown }).sealed === 'string';
}

/** A fresh encryption key for `PUSHWORKER_KEY_ENCRYPTION_KEYS`: 32 random bytes, base64url. */
export function newEncryptionKey(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(KEY_BYTES))).toString('base64url');
}

/**
 * The configured encryption keys: the first seals, every one opens, so that a key can be replaced without a
 * moment in which stored keys cannot be read. Each sealed value names its key by a fingerprint (`kid`), and the
 * signing key it holds (`skid`), so that a sealed value copied onto another row does not open there.
 */
export class KeySeal {
  private readonly keys: { id: string; bytes: Uint8Array }[];

  constructor(encodedKeys: string[]) {
    this.keys = encodedKeys.map((encoded, i) => {
      const bytes = Buffer.from(encoded, 'base64url');
      if (bytes.length !== KEY_BYTES || bytes.toString('base64url') !== encoded.replace(/=+$/, ''))
        throw new PushworkerError(
          'misconfigured',
          `PUSHWORKER_KEY_ENCRYPTION_KEYS: key ${i + 1} is not ${KEY_BYTES} bytes in base64url (pushworker keys encryption-key makes one)`,
        );
      return { id: createHash('sha256').update(bytes).digest('base64url').slice(0, 12), bytes };
    });
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** True when `stored` is not as this configuration would store it now: plain, or sealed with an older key. */
  stale(stored: StoredJwk): boolean {
    if (!this.enabled) return false;
    return !isSealed(stored) || decodeProtectedHeader(stored.sealed).kid !== this.keys[0]!.id;
  }

  async seal(jwk: JWK, signingKid: string): Promise<StoredJwk> {
    const key = this.keys[0];
    if (!key) return jwk;
    const sealed = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(jwk)))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: key.id, skid: signingKid, cty: 'jwk+json' })
      .encrypt(key.bytes);
    return { sealed };
  }

  async open(stored: StoredJwk, signingKid: string): Promise<JWK> {
    if (!isSealed(stored)) return stored;
    const header = decodeProtectedHeader(stored.sealed);
    const key = this.keys.find((k) => k.id === header.kid);
    if (!key)
      throw new PushworkerError(
        'misconfigured',
        `signing key ${signingKid} is stored encrypted, and PUSHWORKER_KEY_ENCRYPTION_KEYS holds none of the keys it was encrypted with`,
      );
    if (header.skid !== signingKid)
      throw new PushworkerError(
        'misconfigured',
        `the stored signing key ${signingKid} was sealed for another key`,
      );
    try {
      const { plaintext } = await compactDecrypt(stored.sealed, key.bytes);
      return JSON.parse(new TextDecoder().decode(plaintext)) as JWK;
    } catch {
      throw new PushworkerError(
        'misconfigured',
        `the stored signing key ${signingKid} does not decrypt: it was altered`,
      );
    }
  }
}
