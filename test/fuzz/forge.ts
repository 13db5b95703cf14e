// Push signatures, genuine and forged: each forgery names the error code a worker must answer with.
import { SignJWT } from 'jose';
import { bodyHash, generateSigningKey, type SigningKey, signPush } from '../../src/auth/index.ts';

export const FORGERIES = {
  valid: undefined,
  none: 'bad_signature',
  garbage: 'bad_signature',
  algNone: 'bad_signature',
  untrustedKeySameKid: 'bad_signature',
  unknownKid: 'unknown_key',
  wrongSecret: 'bad_signature',
  algConfusion: 'bad_signature',
  expired: 'expired',
  notYetValid: 'expired',
  wrongAudience: 'wrong_audience',
  wrongIssuer: 'bad_signature',
  bodyMismatch: 'body_mismatch',
  tooLong: 'bad_signature',
  missingJti: 'bad_signature',
  replay: 'replay',
} as const;
export type Forgery = keyof typeof FORGERIES;
export const forgeryKinds = Object.keys(FORGERIES) as Forgery[];

export interface Signer {
  /** The trusted key's public JWKS, for the worker. */
  jwks: { keys: Record<string, unknown>[] };
  secret: string;
  issuer: string;
  audience: string;
  /** The signature header for `body` (undefined: no header). */
  sign(kind: Forgery, body: string | Uint8Array): Promise<string | undefined>;
}

export async function createSigner(audience: string): Promise<Signer> {
  const trusted = await generateSigningKey('EdDSA', 'fuzz-key');
  const impostor = await generateSigningKey('EdDSA', 'fuzz-key');
  const stranger = await generateSigningKey('EdDSA', 'stranger');
  const secret = 'fuzz-shared-secret-0123456789abcdef';
  const issuer = 'fuzz-engine';
  const now = () => Math.floor(Date.now() / 1000);
  const sign = (
    body: string | Uint8Array,
    over: { key?: SigningKey; audience?: string; issuer?: string; now?: number } = {},
  ) => signPush({ key: trusted.signing, issuer, audience, body, ...over });
  const raw = async (body: string | Uint8Array, claims: Record<string, unknown>) =>
    new SignJWT({ bh: await bodyHash(body), ...claims })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'fuzz-key' })
      .sign(trusted.signing.key);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

  return {
    jwks: { keys: [trusted.publicJwk as Record<string, unknown>] },
    secret,
    issuer,
    audience,
    async sign(kind, body) {
      const t = now();
      const std = { iss: issuer, aud: audience, iat: t, nbf: t, exp: t + 60, jti: crypto.randomUUID() };
      switch (kind) {
        case 'valid':
        case 'replay':
          return sign(body);
        case 'none':
          return undefined;
        case 'garbage':
          return `${crypto.randomUUID()}.${crypto.randomUUID()}`;
        case 'algNone':
          return `${b64({ alg: 'none' })}.${b64({ ...std, bh: await bodyHash(body) })}.`;
        case 'untrustedKeySameKid':
          return sign(body, { key: impostor.signing });
        case 'unknownKid':
          return sign(body, { key: stranger.signing });
        case 'wrongSecret':
          return sign(body, { key: { alg: 'HS256', key: new TextEncoder().encode(`${secret}-not`) } });
        case 'algConfusion':
          // The public key's bytes used as an HMAC secret: must not verify.
          return sign(body, {
            key: {
              alg: 'HS256',
              kid: 'fuzz-key',
              key: new TextEncoder().encode(JSON.stringify(trusted.publicJwk)),
            },
          });
        case 'expired':
          return sign(body, { now: t - 400 });
        case 'notYetValid':
          return sign(body, { now: t + 400 });
        case 'wrongAudience':
          return sign(body, { audience: `${audience}-other` });
        case 'wrongIssuer':
          return sign(body, { issuer: 'someone-else' });
        case 'bodyMismatch':
          return sign(typeof body === 'string' ? `${body} ` : new Uint8Array([...body, 32]));
        case 'tooLong':
          return raw(body, { ...std, exp: t + 3_600 });
        case 'missingJti': {
          const { jti: _jti, ...rest } = std;
          return raw(body, rest);
        }
      }
    },
  };
}
