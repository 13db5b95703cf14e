import fc from 'fast-check';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  bodyHash,
  createKeySet,
  generateSigningKey,
  MemoryReplayStore,
  signingKeyFromSecret,
  signPush,
  verifyPush,
  verifyPushBody,
  verifyPushHeader,
} from '../../src/auth/index.ts';
import { nodeBodyHash } from '../../src/node/hash.ts';
import { PushworkerError } from '../../src/protocol/index.ts';

const body = JSON.stringify({ v: 1, assignments: [] });
const bytes = new TextEncoder().encode(body);

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(PushworkerError);
    return (error as PushworkerError).code;
  }
}

describe('push signing and verification', async () => {
  const ed = await generateSigningKey('EdDSA', 'ed-1');
  const es = await generateSigningKey('ES256', 'es-1');
  const keys = createKeySet({ jwks: { keys: [ed.publicJwk, es.publicJwk] } });
  const opts = () => ({ keys, audience: 'w1', replay: new MemoryReplayStore() });
  const sign = (over: Partial<Parameters<typeof signPush>[0]> = {}) =>
    signPush({ key: ed.signing, issuer: 'engine', audience: 'w1', body, ...over });

  it('accepts EdDSA, ES256 and HS256 pushes', async () => {
    expect((await verifyPush(await sign(), bytes, opts())).aud).toBe('w1');
    expect((await verifyPush(await sign({ key: es.signing }), bytes, opts())).iss).toBe('engine');
    const hs = createKeySet({ secret: 'a-shared-secret-of-some-length!!' });
    const token = await sign({ key: signingKeyFromSecret('a-shared-secret-of-some-length!!') });
    expect((await verifyPush(token, bytes, { ...opts(), keys: hs })).jti).toBeTruthy();
  });

  it('verifies the header without the body, then the body against the header it passed', async () => {
    const replay = new MemoryReplayStore();
    const token = await sign();
    const claims = await verifyPushHeader(token, { ...opts(), replay });
    expect(claims.bh).toBe(await bodyHash(bytes));
    // The header alone spends no jti: a body that does not match leaves the genuine one deliverable.
    const tampered = new TextEncoder().encode(body.replace('[]', '[ ]'));
    expect(await codeOf(verifyPushBody(claims, tampered, { replay }))).toBe('body_mismatch');
    expect((await verifyPushBody(claims, bytes, { replay })).jti).toBe(claims.jti);
    expect(await codeOf(verifyPushBody(claims, bytes, { replay }))).toBe('replay');
    expect(await codeOf(verifyPushHeader('not-a-jws', opts()))).toBe('bad_signature');
    const ahead = await sign({ now: Math.floor(Date.now() / 1000) + 120 });
    expect(await codeOf(verifyPushHeader(ahead, opts()))).toBe('expired');
  });

  it('accepts any live key during a rotation', async () => {
    const next = await generateSigningKey('EdDSA', 'ed-2');
    const rotating = createKeySet({ jwks: JSON.stringify({ keys: [ed.publicJwk, next.publicJwk] }) });
    for (const key of [ed.signing, next.signing]) {
      await expect(
        verifyPush(await sign({ key }), bytes, { ...opts(), keys: rotating }),
      ).resolves.toBeTruthy();
    }
    const secrets = createKeySet({ secret: ['old-secret', 'new-secret'] });
    for (const s of ['old-secret', 'new-secret']) {
      const token = await sign({ key: signingKeyFromSecret(s) });
      await expect(verifyPush(token, bytes, { ...opts(), keys: secrets })).resolves.toBeTruthy();
    }
  });

  it('refuses each failure with its documented code', async () => {
    const other = await generateSigningKey('EdDSA', 'ed-1');
    const now = Math.floor(Date.now() / 1000);
    expect(await codeOf(verifyPush(null, bytes, opts()))).toBe('bad_signature');
    expect(await codeOf(verifyPush('not-a-jws', bytes, opts()))).toBe('bad_signature');
    expect(await codeOf(verifyPush(await sign({ key: other.signing }), bytes, opts()))).toBe('bad_signature');
    expect(await codeOf(verifyPush(await sign({ now: now - 400 }), bytes, opts()))).toBe('expired');
    expect(await codeOf(verifyPush(await sign({ now: now + 120 }), bytes, opts()))).toBe('expired');
    expect(await codeOf(verifyPush(await sign({ audience: 'w2' }), bytes, opts()))).toBe('wrong_audience');
    const tampered = new TextEncoder().encode(body.replace('[]', '[ ]'));
    expect(await codeOf(verifyPush(await sign(), tampered, opts()))).toBe('body_mismatch');
    const unknown = await generateSigningKey('EdDSA', 'ed-9');
    expect(await codeOf(verifyPush(await sign({ key: unknown.signing }), bytes, opts()))).toBe('unknown_key');
    const hsOnly = signingKeyFromSecret('s');
    expect(await codeOf(verifyPush(await sign({ key: hsOnly }), bytes, opts()))).toBe('unknown_key');
  });

  it('refuses, as expired, a token issued in the future whose nbf lets it in now', async () => {
    const now = Math.floor(Date.now() / 1000);
    const forged = (iat: number) =>
      new SignJWT({ bh: nodeBodyHash(bytes), jti: `j-${iat}` })
        .setProtectedHeader({ alg: 'EdDSA', kid: 'ed-1' })
        .setIssuer('engine')
        .setAudience('w1')
        .setIssuedAt(iat)
        .setNotBefore(now)
        .setExpirationTime(iat + 300)
        .sign(ed.signing.key);
    expect(await codeOf(verifyPush(await forged(now + 100_000), bytes, opts()))).toBe('expired');
    expect(await codeOf(verifyPush(await forged(now + 20), bytes, opts()))).toBe('ok');
  });

  it('refuses a replayed push until its token expires', async () => {
    const o = opts();
    const token = await sign();
    expect(await codeOf(verifyPush(token, bytes, o))).toBe('ok');
    expect(await codeOf(verifyPush(token, bytes, o))).toBe('replay');
  });

  it('does not spend a jti on a push that fails a later check', async () => {
    const o = opts();
    const token = await sign();
    expect(await codeOf(verifyPush(token, new TextEncoder().encode('{}'), o))).toBe('body_mismatch');
    expect(await codeOf(verifyPush(token, bytes, o))).toBe('ok');
  });

  it('never accepts a tampered signature or body', async () => {
    const token = await sign();
    await fc.assert(
      fc.asyncProperty(
        fc.nat(token.length - 1),
        fc.nat(bytes.length - 1),
        fc.boolean(),
        async (i, j, onBody) => {
          let t = token;
          const b = new Uint8Array(bytes);
          if (onBody) b[j] = (b[j]! + 1) % 256;
          else t = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
          const code = await codeOf(verifyPush(t, b, opts()));
          // Flipping a base64url character can leave the decoded bytes unchanged only in the last, padding-bits character.
          if (code === 'ok') expect(!onBody && i === token.length - 1).toBe(true);
          else
            expect(['bad_signature', 'body_mismatch', 'unknown_key', 'expired', 'wrong_audience']).toContain(
              code,
            );
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('body hash', () => {
  const cases = [
    new Uint8Array(0),
    bytes,
    new TextEncoder().encode('{"message":"héllo ✓ 🎉"}'),
    new Uint8Array([0xff, 0xfe, 0x00, 0x80]),
    new Uint8Array(1024 * 1024 + 3).map((_, i) => (i * 31) % 256),
  ];

  it('hashes with node:crypto to the same value as WebCrypto, and signs and verifies through either', async () => {
    for (const body of cases) expect(nodeBodyHash(body)).toBe(await bodyHash(body));
    const { signing: key, publicJwk } = await generateSigningKey();
    const keys = createKeySet({ jwks: { keys: [publicJwk] } });
    const replay = new MemoryReplayStore();
    const signed = await signPush({ key, issuer: 'e', audience: 'w', body, hashBody: nodeBodyHash });
    await expect(verifyPush(signed, bytes, { keys, audience: 'w', replay })).resolves.toMatchObject({
      aud: 'w',
    });
    const web = await signPush({ key, issuer: 'e', audience: 'w', body });
    const options = { keys, audience: 'w', replay, hashBody: nodeBodyHash };
    await expect(verifyPush(web, bytes, options)).resolves.toMatchObject({ aud: 'w' });
  });

  it('binds the signature to every byte of a large, non-ASCII body', async () => {
    const large = new TextEncoder().encode(JSON.stringify({ v: 1, pad: 'é'.repeat(200_000) }));
    const token = await signPush({
      key: signingKeyFromSecret('k'),
      issuer: 'e',
      audience: 'w1',
      body: large,
    });
    const o = () => ({
      keys: createKeySet({ secret: 'k' }),
      audience: 'w1',
      replay: new MemoryReplayStore(),
    });
    const flipped = new Uint8Array(large);
    flipped[large.length - 3]! ^= 1;
    expect(await codeOf(verifyPush(token, flipped, o()))).toBe('body_mismatch');
    expect(await codeOf(verifyPush(token, large.subarray(0, large.length - 1), o()))).toBe('body_mismatch');
    expect(await codeOf(verifyPush(token, large, o()))).toBe('ok');
  });
});

describe('replay store', () => {
  it('stays within its bound and forgets expired entries', () => {
    let now = 1000;
    const store = new MemoryReplayStore(3, () => now);
    expect(store.claim('a', 1010)).toBe(true);
    expect(store.claim('a', 1010)).toBe(false);
    for (const jti of ['b', 'c', 'd']) store.claim(jti, 1010);
    expect(store.size).toBe(3);
    expect(store.evictions).toBe(1);
    now = 1011;
    expect(store.claim('b', 1020)).toBe(true);
    expect(store.size).toBe(1);
  });
});

describe('remote JWKS', () => {
  it('fetches the engine key set, caches it, and fetches again for an unknown kid', async () => {
    const { listen, closeServer } = await import('../support/sink.ts');
    const k1 = await generateSigningKey('EdDSA', 'k1');
    const k2 = await generateSigningKey('EdDSA', 'k2');
    const published = [k1.publicJwk];
    let fetches = 0;
    const { server, port } = await listen(() => {
      fetches++;
      return Response.json({ keys: published });
    });
    try {
      const keys = createKeySet({
        jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
        jwksCooldownMs: 0,
      });
      const verify = async (key: typeof k1) =>
        codeOf(
          verifyPush(await signPush({ key: key.signing, issuer: 'e', audience: 'w1', body }), bytes, {
            keys,
            audience: 'w1',
            replay: new MemoryReplayStore(),
          }),
        );
      expect(await verify(k1)).toBe('ok');
      expect(await verify(k1)).toBe('ok');
      expect(fetches).toBe(1);
      expect(await verify(k2)).toBe('unknown_key');
      published.push(k2.publicJwk);
      expect(await verify(k2)).toBe('ok');
      expect(fetches).toBe(3);
    } finally {
      await closeServer(server);
    }
  });
});
