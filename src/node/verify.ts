// Push signatures with node:crypto instead of jose's WebCrypto call: `crypto.verify` in its callback form, which
// runs in libuv's thread pool (off the event loop, as WebCrypto's job does) without WebCrypto's per-call work in
// JavaScript, and HS256 as an HMAC in place. jose still checks the claims (src/auth/push.ts).
import { createHmac, KeyObject, timingSafeEqual, verify } from 'node:crypto';
import type { PushAlgorithm, VerifyKey } from '../auth/keys.ts';
import { invalidSignature, type SignatureVerifier } from '../auth/push.ts';

/** What a key must be to verify each algorithm: jose's own requirements for a `CryptoKey` (its `lib/key.js`). */
const REQUIRED = {
  EdDSA: { type: 'public', name: 'Ed25519', asymmetricKeyType: 'ed25519' },
  ES256: { type: 'public', name: 'ECDSA', namedCurve: 'P-256', asymmetricKeyType: 'ec', curve: 'prime256v1' },
  HS256: { type: 'secret', name: 'HMAC', hash: 'SHA-256' },
} as const satisfies Record<PushAlgorithm, object>;

interface Usable {
  alg: PushAlgorithm;
  key: KeyObject;
}

/**
 * Each key the key set gives, checked and turned into a `KeyObject` once. Held by the key object itself: the key
 * set keeps one object per trusted key (jose imports each JWK once), so the cache is bounded by the key set, and
 * a key removed, rotated or fetched again comes as a new object, whose entry is made afresh, while the old one
 * goes with its key.
 */
const usable = new WeakMap<object, Usable>();

/** Verifies in libuv's thread pool; HS256 in place (an HMAC of a push header costs less than the hop). */
export const nodeSignatureVerifier: SignatureVerifier = (alg, key, input, signature) => {
  if (alg === 'HS256') return hmacVerifies(key, input, signature);
  const k = usableKey(alg, key);
  return new Promise<boolean>((resolve) => {
    const done = (error: Error | null, ok: boolean) => resolve(!error && ok);
    try {
      if (alg === 'ES256') verify('sha256', input, { key: k, dsaEncoding: 'ieee-p1363' }, signature, done);
      else verify(null, input, k, signature, done);
    } catch {
      // What node:crypto refuses at once (it answers a signature of the wrong length false): it does not verify.
      resolve(false);
    }
  });
};

function hmacVerifies(key: VerifyKey, input: Uint8Array, signature: Uint8Array): boolean {
  // A secret given as bytes is used as it is, not cached: its bytes could change under the same object. WebCrypto
  // cannot import an empty one, so jose refuses it.
  if (key instanceof Uint8Array && key.length === 0) throw invalidSignature();
  const secret = key instanceof Uint8Array ? key : usableKey('HS256', key);
  const mac = createHmac('sha256', secret).update(input).digest();
  return mac.length === signature.length && timingSafeEqual(mac, signature);
}

function usableKey(alg: PushAlgorithm, key: VerifyKey): KeyObject {
  const cached = usable.get(key);
  if (cached?.alg === alg) return cached.key;
  const keyObject = check(alg, key);
  usable.set(key, { alg, key: keyObject });
  return keyObject;
}

/** The key as a `KeyObject`, or `bad_signature` where jose would refuse it for `alg`. */
function check(alg: PushAlgorithm, key: unknown): KeyObject {
  const want: { type: string; name: string; hash?: string; namedCurve?: string; curve?: string } =
    REQUIRED[alg];
  if (key instanceof KeyObject) {
    const details = key.asymmetricKeyDetails;
    const fits =
      key.type === want.type &&
      ('asymmetricKeyType' in want ? key.asymmetricKeyType === want.asymmetricKeyType : true) &&
      (want.curve === undefined || details?.namedCurve === want.curve);
    if (fits) return key;
  } else if (isCryptoKey(key)) {
    const algorithm = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string };
    const fits =
      key.type === want.type &&
      algorithm.name === want.name &&
      (want.hash === undefined || algorithm.hash?.name === want.hash) &&
      (want.namedCurve === undefined || algorithm.namedCurve === want.namedCurve) &&
      key.usages.includes('verify');
    if (fits) return KeyObject.from(key);
  }
  throw invalidSignature();
}

function isCryptoKey(key: unknown): key is CryptoKey {
  return (key as { [Symbol.toStringTag]?: string } | null)?.[Symbol.toStringTag] === 'CryptoKey';
}
