// Key sets a worker trusts (inline JWKS, remote JWKS, shared secrets) and keys an engine signs with.
import {
  type CryptoKey,
  createLocalJWKSet,
  createRemoteJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWSHeaderParameters,
} from 'jose';
import { PushworkerError } from '../protocol/errors.ts';

export const PUSH_ALGORITHMS = ['EdDSA', 'ES256', 'HS256'] as const;
export type PushAlgorithm = (typeof PUSH_ALGORITHMS)[number];
export type VerifyKey = CryptoKey | Uint8Array;

/** Resolves the candidate keys for a token header; more than one during a rotation. */
export type KeySet = (header: JWSHeaderParameters) => Promise<VerifyKey[]>;

export interface KeySetOptions {
  /** Inline JWKS, as an object or its JSON text. */
  jwks?: JSONWebKeySet | string;
  /** The engine's `/.well-known/jwks.json`; cached, and fetched again when an unknown `kid` arrives. */
  jwksUrl?: string | URL;
  /** Least time between two fetches of `jwksUrl` (default 5 s), so unknown `kid`s cannot flood the engine. */
  jwksCooldownMs?: number;
  /** Shared secret(s) for HS256; several may be live at once for rotation. */
  secret?: string | string[];
}

type JoseResolver = (header: JWSHeaderParameters) => Promise<CryptoKey>;

export function createKeySet(options: KeySetOptions): KeySet {
  const resolvers: JoseResolver[] = [];
  if (options.jwks) {
    const jwks = typeof options.jwks === 'string' ? parseJwks(options.jwks) : options.jwks;
    resolvers.push(createLocalJWKSet(jwks) as JoseResolver);
  }
  if (options.jwksUrl)
    resolvers.push(remoteResolver(new URL(options.jwksUrl), options.jwksCooldownMs ?? 5_000));
  const secrets = [options.secret ?? []].flat().map((s) => new TextEncoder().encode(s));
  if (resolvers.length === 0 && secrets.length === 0) {
    throw new TypeError(
      'pushes cannot be verified without keys: set PUSHWORKER_JWKS, PUSHWORKER_JWKS_URL or PUSHWORKER_SECRET',
    );
  }

  return async (header) => {
    if (header.alg === 'HS256') return secrets;
    const found: VerifyKey[] = [];
    for (const resolve of resolvers) found.push(...(await candidates(resolve, header)));
    return found;
  };
}

/**
 * The engine's JWKS, fetched at most once per cooldown. A `kid` that is not in the cached set while the cooldown
 * runs (the engine rotated just after our last fetch) waits for the cooldown to end and is looked up once more,
 * so a push signed with a fresh key is taken, not refused; a forged `kid` still costs one fetch per cooldown.
 */
function remoteResolver(url: URL, cooldownMs: number): JoseResolver {
  const remote = createRemoteJWKSet(url, { cooldownDuration: cooldownMs });
  return async (header) => {
    try {
      return (await remote(header)) as CryptoKey;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY' || !remote.coolingDown)
        throw error;
      const deadline = Date.now() + cooldownMs + 100;
      while (remote.coolingDown && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      return (await remote(header)) as CryptoKey;
    }
  };
}

async function candidates(resolve: JoseResolver, header: JWSHeaderParameters): Promise<CryptoKey[]> {
  try {
    return [await resolve(header)];
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_JWKS_NO_MATCHING_KEY') return [];
    if (code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') {
      const keys: CryptoKey[] = [];
      for await (const key of error as AsyncIterable<CryptoKey>) keys.push(key);
      return keys;
    }
    throw new PushworkerError('unknown_key', 'the key set could not be loaded');
  }
}

function parseJwks(text: string): JSONWebKeySet {
  try {
    return JSON.parse(text) as JSONWebKeySet;
  } catch {
    throw new TypeError('the inline JWKS is not valid JSON');
  }
}

export interface SigningKey {
  alg: PushAlgorithm;
  kid?: string;
  key: CryptoKey | Uint8Array;
  /**
   * Signs a JWS signing input at once and returns the base64url signature: a runtime's faster signer for this
   * key (the engine's on Node). Without it jose signs with WebCrypto.
   */
  signNow?: (input: string) => string;
}

export function signingKeyFromSecret(secret: string, kid?: string): SigningKey {
  return { alg: 'HS256', key: new TextEncoder().encode(secret), ...(kid ? { kid } : {}) };
}

export interface GeneratedKey {
  signing: SigningKey;
  /** Private JWK (with `kid` and `alg`), for persisting. */
  privateJwk: JWK;
  /** Public JWK (with `kid`, `alg`, `use`), for publishing in a JWKS. */
  publicJwk: JWK;
}

export async function generateSigningKey(
  alg: Exclude<PushAlgorithm, 'HS256'> = 'EdDSA',
  kid: string = crypto.randomUUID(),
): Promise<GeneratedKey> {
  const pair = await generateKeyPair(alg, { extractable: true });
  const privateJwk = { ...(await exportJWK(pair.privateKey)), kid, alg };
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' };
  return { signing: { alg, kid, key: pair.privateKey }, privateJwk, publicJwk };
}

/** Imports a private JWK saved by `generateSigningKey`. */
export async function importSigningKey(jwk: JWK): Promise<SigningKey> {
  const alg = jwk.alg as Exclude<PushAlgorithm, 'HS256'>;
  if (alg !== 'EdDSA' && alg !== 'ES256') throw new TypeError(`unsupported signing key alg: ${jwk.alg}`);
  const key = (await importJWK(jwk, alg)) as CryptoKey;
  return { alg, key, ...(jwk.kid ? { kid: jwk.kid } : {}) };
}

export function publicJwkOf(privateJwk: JWK): JWK {
  const { d: _d, key_ops: _ops, ext: _ext, ...pub } = privateJwk;
  return { ...pub, use: 'sig' };
}
