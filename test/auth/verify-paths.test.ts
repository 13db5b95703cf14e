// Push verification on both paths: jose with WebCrypto (every runtime), and node:crypto's signature check (the Node
// and Lambda adapters' `verifySignature`) with jose's claim checks. Each case is refused with the same code and
// message on both.
import fc from 'fast-check';
import { base64url, type CryptoKey, importJWK, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  createKeySet,
  generateSigningKey,
  type KeySet,
  MemoryReplayStore,
  type SignatureVerifier,
  signingKeyFromSecret,
  signPush,
  type VerifyKey,
  verifyPush,
} from '../../src/auth/index.ts';
import { nodeBodyHash } from '../../src/node/hash.ts';
import { nodeSignatureVerifier } from '../../src/node/verify.ts';
import { PushworkerError } from '../../src/protocol/index.ts';

const body = JSON.stringify({ v: 1, assignments: [] });
const bytes = new TextEncoder().encode(body);
const SECRET = 'a-shared-secret-of-some-length!!';

interface Outcome {
  code: string;
  message?: string;
}

async function outcomeOf(promise: Promise<unknown>): Promise<Outcome> {
  try {
    await promise;
    return { code: 'ok' };
  } catch (error) {
    expect(error).toBeInstanceOf(PushworkerError);
    return { code: (error as PushworkerError).code, message: (error as PushworkerError).message };
  }
}

/** A node:crypto verifier that counts its calls, to tell which path a push took. */
function counting(): SignatureVerifier & { calls: number } {
  const verify = ((...args: Parameters<SignatureVerifier>) => {
    verify.calls++;
    return nodeSignatureVerifier(...args);
  }) as SignatureVerifier & { calls: number };
  verify.calls = 0;
  return verify;
}

const ed = await generateSigningKey('EdDSA', 'ed-1');
const es = await generateSigningKey('ES256', 'es-1');
const trusted = createKeySet({ jwks: { keys: [ed.publicJwk, es.publicJwk] }, secret: SECRET });
const now = () => Math.floor(Date.now() / 1000);
const sign = (over: Partial<Parameters<typeof signPush>[0]> = {}) =>
  signPush({ key: ed.signing, issuer: 'engine', audience: 'w1', body, ...over });

/** A compact JWS with any header and claims, signed by WebCrypto as jose would sign it. */
async function forge(
  header: Record<string, unknown>,
  claims: Record<string, unknown> = {},
  key: CryptoKey = ed.signing.key as CryptoKey,
): Promise<string> {
  const t = now();
  const payload = {
    bh: nodeBodyHash(bytes),
    iss: 'engine',
    aud: 'w1',
    iat: t,
    nbf: t,
    exp: t + 60,
    jti: crypto.randomUUID(),
    ...claims,
  };
  const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}`;
  const algorithm = header.alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'Ed25519' };
  const signature = await crypto.subtle.sign(algorithm, key, new TextEncoder().encode(input));
  return `${input}.${base64url.encode(new Uint8Array(signature))}`;
}

const fixed =
  (...keys: VerifyKey[]): KeySet =>
  async () =>
    keys;
const importPublic = (jwk: JWK) => importJWK(jwk, jwk.alg) as Promise<CryptoKey>;

interface Case {
  name: string;
  token: () => Promise<string>;
  keys?: () => Promise<KeySet> | KeySet;
  body?: Uint8Array;
  expected: string;
}

const cases: Case[] = [
  { name: 'a valid EdDSA push', token: () => sign(), expected: 'ok' },
  { name: 'a valid ES256 push', token: () => sign({ key: es.signing }), expected: 'ok' },
  { name: 'a valid HS256 push', token: () => sign({ key: signingKeyFromSecret(SECRET) }), expected: 'ok' },
  {
    name: 'a push signed by a key removed from the set',
    token: () => sign(),
    keys: () => createKeySet({ jwks: { keys: [es.publicJwk] } }),
    expected: 'unknown_key',
  },
  {
    name: 'a push whose kid names a key of another algorithm',
    token: () => sign(),
    keys: () => createKeySet({ jwks: { keys: [{ ...es.publicJwk, kid: 'ed-1' }] } }),
    expected: 'unknown_key',
  },
  {
    name: 'an EdDSA push given an ES256 key',
    token: () => sign(),
    keys: async () => fixed(await importPublic(es.publicJwk)),
    expected: 'bad_signature',
  },
  {
    name: 'an EdDSA push given a shared secret',
    token: () => sign(),
    keys: () => fixed(new TextEncoder().encode(SECRET)),
    expected: 'bad_signature',
  },
  {
    name: 'an HS256 push given an EdDSA key',
    token: () => sign({ key: signingKeyFromSecret(SECRET) }),
    keys: async () => fixed(await importPublic(ed.publicJwk)),
    expected: 'bad_signature',
  },
  {
    name: 'an HS256 push given an empty secret',
    token: () => sign({ key: signingKeyFromSecret(SECRET) }),
    keys: () => fixed(new Uint8Array(0)),
    expected: 'bad_signature',
  },
  {
    name: 'a push given the private key as its verification key',
    token: () => sign(),
    keys: () => fixed(ed.signing.key),
    expected: 'bad_signature',
  },
  {
    name: 'a push given a private JWK in its key set',
    token: () => sign(),
    keys: () => createKeySet({ jwks: { keys: [ed.privateJwk] } }),
    expected: 'unknown_key',
  },
  {
    name: 'a push whose header has an unknown crit extension',
    token: () => forge({ alg: 'EdDSA', kid: 'ed-1', crit: ['x'], x: 1 }),
    expected: 'bad_signature',
  },
  {
    name: 'a push with an unencoded payload (b64: false)',
    token: () => forge({ alg: 'EdDSA', kid: 'ed-1', crit: ['b64'], b64: false }),
    expected: 'bad_signature',
  },
  {
    name: 'a push whose crit names b64: true',
    token: () => forge({ alg: 'EdDSA', kid: 'ed-1', crit: ['b64'], b64: true }),
    expected: 'ok',
  },
  {
    name: 'a push with a tampered payload',
    token: async () => {
      const [h, p, s] = (await sign()).split('.');
      const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
      return `${h}.${base64url.encode(JSON.stringify({ ...claims, exp: claims.exp + 60 }))}.${s}`;
    },
    expected: 'bad_signature',
  },
  {
    name: 'a push with a tampered signature',
    token: async () => {
      const [h, p, s] = (await sign()).split('.');
      const sig = base64url.decode(s!);
      sig[10]! ^= 1;
      return `${h}.${p}.${base64url.encode(sig)}`;
    },
    expected: 'bad_signature',
  },
  {
    name: 'a push with a truncated signature',
    token: async () => (await sign()).slice(0, -8),
    expected: 'bad_signature',
  },
  {
    name: 'a push whose signature is not base64url',
    token: async () => `${(await sign()).slice(0, -2)}*!`,
    expected: 'bad_signature',
  },
  {
    name: 'an ES256 push with a truncated signature',
    token: async () => (await sign({ key: es.signing })).slice(0, -8),
    expected: 'bad_signature',
  },
  {
    name: 'a push with a non-ASCII payload',
    token: async () => {
      const [h, p, s] = (await sign()).split('.');
      return `${h}.${p}é.${s}`;
    },
    expected: 'bad_signature',
  },
  { name: 'a push of four parts', token: async () => `${await sign()}.x`, expected: 'bad_signature' },
  { name: 'an expired push', token: () => sign({ now: now() - 400 }), expected: 'expired' },
  {
    name: 'a push issued in the future whose nbf lets it in now',
    token: () => forge({ alg: 'EdDSA', kid: 'ed-1' }, { iat: now() + 100_000, exp: now() + 100_060 }),
    expected: 'expired',
  },
  { name: 'a push not valid yet', token: () => sign({ now: now() + 120 }), expected: 'expired' },
  {
    name: 'a push issued a little ahead, within the clock tolerance',
    token: () => forge({ alg: 'EdDSA', kid: 'ed-1' }, { iat: now() + 20 }),
    expected: 'ok',
  },
  { name: 'a push for another worker', token: () => sign({ audience: 'w2' }), expected: 'wrong_audience' },
  {
    name: 'a push lacking a claim',
    token: () => forge({ alg: 'EdDSA', kid: 'ed-1' }, { iss: undefined }),
    expected: 'bad_signature',
  },
  {
    name: 'a push living longer than a push may',
    token: () => forge({ alg: 'EdDSA', kid: 'ed-1' }, { exp: now() + 100_000 }),
    expected: 'bad_signature',
  },
  {
    name: 'a push whose claims are not an object',
    token: async () => {
      const [h] = (await forge({ alg: 'EdDSA', kid: 'ed-1' })).split('.');
      const input = `${h}.${base64url.encode('[1]')}`;
      const signature = await crypto.subtle.sign('Ed25519', ed.signing.key as CryptoKey, Buffer.from(input));
      return `${input}.${base64url.encode(new Uint8Array(signature))}`;
    },
    expected: 'bad_signature',
  },
  {
    name: 'a push whose body differs',
    token: () => sign(),
    body: bytes.subarray(1),
    expected: 'body_mismatch',
  },
];

describe('push verification, with jose and with node:crypto', () => {
  const paths = [
    ['jose', undefined],
    ['node:crypto', nodeSignatureVerifier],
  ] as const;

  it.each(cases)('$name: $expected on both paths, for the same reason', async (c) => {
    const token = await c.token();
    const keys = c.keys ? await c.keys() : trusted;
    const outcomes: Outcome[] = [];
    for (const [, verifySignature] of paths) {
      const options = { keys, audience: 'w1', replay: new MemoryReplayStore(), verifySignature };
      outcomes.push(await outcomeOf(verifyPush(token, c.body ?? bytes, options)));
    }
    expect(outcomes[0]!.code).toBe(c.expected);
    expect(outcomes[1]).toEqual(outcomes[0]);
  });

  it('checks the signature with node:crypto, except under a crit header, which jose handles', async () => {
    const verify = counting();
    const options = () => ({ keys: trusted, audience: 'w1', replay: new MemoryReplayStore() });
    await verifyPush(await sign(), bytes, { ...options(), verifySignature: verify });
    await verifyPush(await sign({ key: signingKeyFromSecret(SECRET) }), bytes, {
      ...options(),
      verifySignature: verify,
    });
    expect(verify.calls).toBe(2);
    const crit = await forge({ alg: 'EdDSA', kid: 'ed-1', crit: ['b64'], b64: true });
    await verifyPush(crit, bytes, { ...options(), verifySignature: verify });
    const b64 = await forge({ alg: 'EdDSA', kid: 'ed-1', b64: true });
    await verifyPush(b64, bytes, { ...options(), verifySignature: verify });
    expect(verify.calls).toBe(2);
  });

  it('takes any live key during a rotation, and none that has gone', async () => {
    const next = await generateSigningKey('EdDSA', 'ed-1');
    let live: VerifyKey[] = [await importPublic(ed.publicJwk), await importPublic(next.publicJwk)];
    // A key set whose keys change under the same kid: nothing verified with a key before is kept for it.
    const rotating: KeySet = async () => live;
    const verify = (token: string) =>
      outcomeOf(
        verifyPush(token, bytes, {
          keys: rotating,
          audience: 'w1',
          replay: new MemoryReplayStore(),
          verifySignature: nodeSignatureVerifier,
        }),
      );
    const old = await sign();
    const fresh = await sign({ key: next.signing });
    expect((await verify(old)).code).toBe('ok');
    expect((await verify(fresh)).code).toBe('ok');
    live = [await importPublic(next.publicJwk)];
    expect(await verify(old)).toEqual({
      code: 'bad_signature',
      message: 'the push signature does not verify',
    });
    expect((await verify(fresh)).code).toBe('ok');
    const secrets = createKeySet({ secret: ['old-secret', 'new-secret'] });
    for (const s of ['old-secret', 'new-secret']) {
      const token = await sign({ key: signingKeyFromSecret(s) });
      await expect(
        verifyPush(token, bytes, {
          keys: secrets,
          audience: 'w1',
          replay: new MemoryReplayStore(),
          verifySignature: nodeSignatureVerifier,
        }),
      ).resolves.toBeTruthy();
    }
  });

  it('never accepts a tampered signature or payload on either path', async () => {
    const token = await sign({ ttlS: 300 });
    await fc.assert(
      fc.asyncProperty(fc.nat(token.length - 1), fc.constantFrom('A', 'B', '-', '.', '='), async (i, ch) => {
        const replaced = token[i] === ch ? 'Q' : ch;
        const t = token.slice(0, i) + replaced + token.slice(i + 1);
        const outcomes: Outcome[] = [];
        for (const [, verifySignature] of paths) {
          const options = { keys: trusted, audience: 'w1', replay: new MemoryReplayStore(), verifySignature };
          outcomes.push(await outcomeOf(verifyPush(t, bytes, options)));
        }
        expect(outcomes[1]).toEqual(outcomes[0]);
        // Only the last character's padding bits can change without changing the decoded bytes.
        if (outcomes[0]!.code === 'ok') expect(i).toBe(token.length - 1);
      }),
      { numRuns: 300 },
    );
  });
});
