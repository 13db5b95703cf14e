// Signing and verifying a push: a compact JWS whose claims bind the audience, a lifetime, a `jti` and the body hash.
import {
  base64url,
  type CompactJWSHeaderParameters,
  CompactSign,
  decodeProtectedHeader,
  type JWSHeaderParameters,
  type JWTClaimVerificationOptions,
  jwtVerify,
  UnsecuredJWT,
} from 'jose';
import { PushworkerError } from '../protocol/errors.ts';
import { MAX_PUSH_TTL_S, type PushClaims, PushClaims as PushClaimsSchema } from '../protocol/schemas.ts';
import { type BodyHasher, bodyHash } from './hash.ts';
import { type KeySet, PUSH_ALGORITHMS, type PushAlgorithm, type SigningKey, type VerifyKey } from './keys.ts';
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
  /** A faster signature check than jose's with WebCrypto, where the runtime has one; jose still checks the claims. */
  verifySignature?: SignatureVerifier;
}

/**
 * Checks a compact JWS's signature with one candidate key, in place of jose's WebCrypto call (Node's is in
 * `src/node/verify.ts`): true when `signature` signs `input` (the ASCII bytes of `header.payload`) under `alg`
 * with `key`, false when it does not, whatever its length or encoding. A key that cannot verify `alg` (another
 * algorithm's, a private key, a secret for an asymmetric algorithm) throws `bad_signature`, as jose refuses it.
 */
export type SignatureVerifier = (
  alg: PushAlgorithm,
  key: VerifyKey,
  input: Uint8Array,
  signature: Uint8Array,
) => boolean | Promise<boolean>;

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
  // The claim rules, one set for either way of checking the signature; jose applies them both ways.
  const rules: JWTClaimVerificationOptions = {
    audience: options.audience,
    clockTolerance: tolerance,
    requiredClaims: REQUIRED_CLAIMS,
  };
  if (options.issuer) rules.issuer = options.issuer;
  // `crit` and `b64` change what is signed or what must be understood: jose handles those headers itself.
  const plain = !Object.hasOwn(header, 'crit') && !Object.hasOwn(header, 'b64');
  const payload =
    options.verifySignature && plain
      ? await verifiedWith(options.verifySignature, signature, header.alg as PushAlgorithm, keys, rules)
      : await verifiedByJose(signature, keys, rules);

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

/** jose verifies the signature with WebCrypto and checks the claims; the first key that verifies is taken. */
async function verifiedByJose(
  token: string,
  keys: VerifyKey[],
  rules: JWTClaimVerificationOptions,
): Promise<unknown> {
  for (const key of keys) {
    try {
      return (await jwtVerify(token, key, { ...rules, algorithms: ALGORITHMS })).payload;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') continue;
      throw mapJoseError(error);
    }
  }
  throw new PushworkerError('bad_signature', 'the push signature does not verify');
}

/**
 * The runtime's verifier checks the signature, then jose checks the claims as `jwtVerify` does: those of an
 * unsecured JWT of the same payload (jose reads the header only for a `typ` rule, which pushes do not have).
 * The signing input and the signature are decoded as jose decodes them, once for every candidate key.
 */
async function verifiedWith(
  verify: SignatureVerifier,
  token: string,
  alg: PushAlgorithm,
  keys: VerifyKey[],
  rules: JWTClaimVerificationOptions,
): Promise<unknown> {
  const parts = token.split('.');
  if (parts.length !== 3) throw invalidSignature();
  const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
  const input = `${encodedHeader}.${encodedPayload}`;
  if (NON_ASCII.test(input)) throw invalidSignature();
  let signature: Uint8Array;
  try {
    signature = base64url.decode(encodedSignature);
  } catch {
    throw invalidSignature();
  }
  const bytes = encoder.encode(input);
  for (const key of keys) {
    let verified: boolean;
    try {
      verified = await verify(alg, key, bytes, signature);
    } catch (error) {
      throw mapJoseError(error);
    }
    if (!verified) continue;
    try {
      return UnsecuredJWT.decode(`${UNSECURED_HEADER}.${encodedPayload}.`, rules).payload;
    } catch (error) {
      throw mapJoseError(error);
    }
  }
  throw new PushworkerError('bad_signature', 'the push signature does not verify');
}

const NON_ASCII = /[\u0080-\uffff]/;
const UNSECURED_HEADER = base64url.encode(JSON.stringify({ alg: 'none' }));
/** A push signature that cannot be checked (malformed, or a key that cannot verify its algorithm). */
export const invalidSignature = () => new PushworkerError('bad_signature', 'the push signature is invalid');

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
  return invalidSignature();
}
