import { compactVerify, importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  createKeySet,
  generateSigningKey,
  importSigningKey,
  MemoryReplayStore,
  type SigningKey,
  signingKeyFromSecret,
  signPush,
  verifyPush,
} from '../../src/auth/index.ts';
import { withNodeSigner } from '../../src/engine/keys.ts';

const body = JSON.stringify({ v: 1, assignments: [] });
const fixed = { issuer: 'engine', audience: 'w1', body, now: 1_700_000_000, jti: 'j-é✓' };
const sign = (key: SigningKey) => signPush({ ...fixed, key });

describe("the engine's node:crypto signer", async () => {
  const ed = await generateSigningKey('EdDSA', 'ed-1');
  const es = await generateSigningKey('ES256', 'es-1');

  it('signs EdDSA and HS256 pushes to the very tokens jose signs with WebCrypto', async () => {
    const keys = [ed.signing, await importSigningKey(ed.privateJwk), signingKeyFromSecret('a-shared-secret')];
    for (const key of keys) {
      const signed = await sign(withNodeSigner(key));
      expect(withNodeSigner(key).signNow).toBeTypeOf('function');
      expect(signed).toBe(await sign(key));
    }
  });

  it('signs ES256 pushes that jose verifies with that key and no other', async () => {
    const token = await sign(withNodeSigner(es.signing));
    const { protectedHeader } = await compactVerify(token, await importJWK(es.publicJwk, 'ES256'));
    expect(protectedHeader).toEqual({ alg: 'ES256', kid: 'es-1' });
    const other = await generateSigningKey('ES256', 'es-1');
    await expect(compactVerify(token, await importJWK(other.publicJwk, 'ES256'))).rejects.toThrow();
  });

  it('signs pushes a worker accepts', async () => {
    const keys = createKeySet({ jwks: { keys: [ed.publicJwk, es.publicJwk] } });
    for (const key of [ed.signing, es.signing]) {
      const token = await signPush({ key: withNodeSigner(key), issuer: 'engine', audience: 'w1', body });
      const claims = await verifyPush(token, new TextEncoder().encode(body), {
        keys,
        audience: 'w1',
        replay: new MemoryReplayStore(),
      });
      expect(claims.iss).toBe('engine');
    }
  });
});
