// Signing and verifying a push: a compact JWS whose claims bind the audience, a lifetime, a `jti` and the body hash.
import {
  base64url,
  type CompactJWSHeaderParameters,
  CompactSign,
  decodeProtectedHeader,
  type JWSHeaderParameters,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose';
import { PushworkerError } from '../protocol/errors.ts';
import { MAX_PUSH_TTL_S, type PushClaims, PushClaims as PushClaimsSchema } from '../protocol/schemas.ts';
import { type BodyHasher, bodyHash } from './hash.ts';
import { type KeySet, PUSH_ALGORITHMS, type SigningKey } from './keys.ts';
import type { ReplayStore } from './replay.ts';

const encoder = new TextEncoder();

export interface SignPushOptions {
  key: SigningKey;
  issuer: string;
  audience: string;
  body: string | Uint8Array;
  ttlS?: number;
  jti?: string;
  /** Unix seconds; defaults to now. */
  now?: number;
  /** A faster `bh` hash than WebCrypto's, where the runtime has one. */
  hashBody?: BodyHasher;
}

export async function signPush(options: SignPushOptions): Promise<string> {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const ttl = Math.min(options.ttlS ?? 60, MAX_PUSH_TTL_S);
  const header: JWSHeaderParameters = {
    alg: options.key.alg,
    ...(options.key.kid ? { kid: options.key.kid } : {}),
  };
  const claims = {
    bh: await bodyHash(options.body, options.hashBody),
    iss: options.issuer,
    aud: options.audience,
    iat: now,
    nbf: now,
    exp: now + ttl,
    jti: options.jti ?? crypto.randomUUID(),
  };
  return signCompact(header, claims, options.key);
}

/** A compact JWS: signed at once by the key's own signer where it has one, by jose with WebCrypto otherwise. */
function signCompact(
  header: JWSHeaderParameters,
  payload: object,
  key: SigningKey,
): Promise<string> | string {
  const bytes = encoder.encode(JSON.stringify(payload));
  if (!key.signNow)
    return new CompactSign(bytes).setProtectedHeader(header as CompactJWSHeaderParameters).sign(key.key);
  const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(bytes)}`;
  return `${input}.${key.signNow(input)}`;
}

export interface VerifyPushOptions {
  keys: KeySet;
  /** The worker's name: the `aud` a push must carry. */
  audience: string;
  replay: ReplayStore;
  /** Accept only this `iss` when set. */
  issuer?: string;
  /** Allowed clock skew, seconds. */
  clockToleranceS?: number;
  /** A faster `bh` hash than WebCrypto's, where the runtime has one. */
  hashBody?: BodyHasher;
}

const REQUIRED_CLAIMS = ['iss', 'aud', 'iat', 'nbf', 'exp', 'jti', 'bh'];
const ALGORITHMS: string[] = [...PUSH_ALGORITHMS];

/** Verifies a push's signature header against its raw body. Throws `PushworkerError` with a 401 code. */
export async function verifyPush(
  signature: string | null | undefined,
  body: Uint8Array,
  options: VerifyPushOptions,
): Promise<PushClaims> {
  return verifyPushBody(await verifyPushHeader(signature, options), body, options);
}

/**
 * Everything a push's signature header proves on its own: the algorithm, the key, the signature and every claim
 * but `bh`. A worker runs it before reading the body, so a forged push costs no read of its body. Throws
 * `PushworkerError` with a 401 code.
 */
export async function verifyPushHeader(
  signature: string | null | undefined,
  options: VerifyPushOptions,
): Promise<PushClaims> {
  if (!signature) throw new PushworkerError('bad_signature', 'the push has no pushworker-signature header');
  const header = decodeHeader(signature);
  if (!PUSH_ALGORITHMS.includes(header.alg as never)) {
    throw new PushworkerError('bad_signature', `the push algorithm "${header.alg}" is not accepted`);
  }
  const keys = await options.keys(header);
  if (keys.length === 0)
    throw new PushworkerError('unknown_key', `no trusted key matches kid "${header.kid ?? ''}"`);

  const tolerance = toleranceOf(options);
  const verifyOptions: JWTVerifyOptions = {
    algorithms: ALGORITHMS,
    audience: options.audience,
    clockTolerance: tolerance,
    requiredClaims: REQUIRED_CLAIMS,
  };
  if (options.issuer) verifyOptions.issuer = options.issuer;
  let payload: unknown;
  for (const key of keys) {
    try {
      ({ payload } = await jwtVerify(signature, key, verifyOptions));
      break;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') continue;
      throw mapJoseError(error);
    }
  }
  if (payload === undefined) throw new PushworkerError('bad_signature', 'the push signature does not verify');

  const parsed = PushClaimsSchema.safeParse(payload);
  if (!parsed.success) throw new PushworkerError('bad_signature', 'the push token claims are malformed');
  const claims = parsed.data;
  if (claims.exp - claims.iat > MAX_PUSH_TTL_S) {
    throw new PushworkerError('bad_signature', `the push token lives longer than ${MAX_PUSH_TTL_S} s`);
  }
  // `exp − iat` bounds a token's life only if `iat` is not in the future: one issued a day ahead would be valid
  // for a day.
  if (claims.iat > Math.floor(Date.now() / 1000) + tolerance) {
    throw new PushworkerError('expired', 'the push is issued in the future');
  }
  return claims;
}

/**
 * The rest, once the body has arrived: its hash against `bh` (computed only once the signature holds, so a forged
 * push costs no hashing), then the one-time `jti`, recorded only when everything else has passed.
 */
export async function verifyPushBody(
  claims: PushClaims,
  body: Uint8Array,
  options: Pick<VerifyPushOptions, 'replay' | 'clockToleranceS' | 'hashBody'>,
): Promise<PushClaims> {
  if (claims.bh !== (await bodyHash(body, options.hashBody))) {
    throw new PushworkerError('body_mismatch', 'the body does not match the signed body hash');
  }
  if (!(await options.replay.claim(claims.jti, claims.exp + toleranceOf(options)))) {
    throw new PushworkerError('replay', 'this push was already delivered');
  }
  return claims;
}

const toleranceOf = (options: Pick<VerifyPushOptions, 'clockToleranceS'>) => options.clockToleranceS ?? 30;

function decodeHeader(token: string): JWSHeaderParameters {
  try {
    return decodeProtectedHeader(token) as JWSHeaderParameters;
  } catch {
    throw new PushworkerError('bad_signature', 'the push signature is not a compact JWS');
  }
}

function mapJoseError(error: unknown): PushworkerError {
  if (error instanceof PushworkerError) return error;
  const { code, claim, reason } = error as { code?: string; claim?: string; reason?: string };
  if (code === 'ERR_JWT_EXPIRED') return new PushworkerError('expired', 'the push has expired');
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
    if (reason === 'missing')
      return new PushworkerError('bad_signature', `the push token lacks the "${claim}" claim`);
    if (claim === 'aud')
      return new PushworkerError('wrong_audience', 'the push is addressed to another worker');
    if (claim === 'nbf' || claim === 'iat')
      return new PushworkerError('expired', 'the push is not valid yet');
    return new PushworkerError('bad_signature', `the push token's "${claim}" claim is not accepted`);
  }
  return new PushworkerError('bad_signature', 'the push signature is invalid');
}
