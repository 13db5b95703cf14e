// The `bh` claim: base64url(SHA-256(raw body bytes)), with WebCrypto or with a runtime's faster hasher when given one.
import { base64url } from 'jose';

const encoder = new TextEncoder();

/** A synchronous `bh` hash, given by a runtime that has one (Node's is in `src/node/hash.ts`). */
export type BodyHasher = (body: Uint8Array) => string;

export function toBytes(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === 'string') return encoder.encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

/** The body hash: with `hasher` when one is given, else with WebCrypto, which every runtime has. */
export async function bodyHash(
  body: string | Uint8Array | ArrayBuffer,
  hasher?: BodyHasher,
): Promise<string> {
  if (hasher) return hasher(toBytes(body));
  const digest = await crypto.subtle.digest('SHA-256', toBytes(body) as Uint8Array<ArrayBuffer>);
  return base64url.encode(new Uint8Array(digest));
}

/** Compares two strings without an early exit, so timing does not reveal the common prefix. */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
