// The `bh` claim: base64url(SHA-256(raw body bytes)), computed with WebCrypto, or with node:crypto where there is one.
import { base64url } from 'jose';

const encoder = new TextEncoder();

export function toBytes(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === 'string') return encoder.encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

/** The body hash: synchronous node:crypto where the runtime has it, WebCrypto elsewhere. */
export async function bodyHash(body: string | Uint8Array | ArrayBuffer): Promise<string> {
  return bodyHashSync ? bodyHashSync(toBytes(body)) : webCryptoBodyHash(body);
}

/** The body hash with WebCrypto: the portable path, and the reference the synchronous one is checked against. */
export async function webCryptoBodyHash(body: string | Uint8Array | ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', toBytes(body) as Uint8Array<ArrayBuffer>);
  return base64url.encode(new Uint8Array(digest));
}

interface NodeCrypto {
  createHash(algorithm: 'sha256'): {
    update(data: Uint8Array): { digest(encoding: 'base64url'): string };
  };
}

/** base64url(SHA-256 of no bytes). */
const EMPTY_HASH = '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU';

// On Node (and so on Lambda) a WebCrypto digest is a job sent to the thread pool, which for a push-sized body costs
// far more than hashing it. node:crypto is reached through `process.getBuiltinModule` rather than an import, so that
// runtimes without it (workerd without nodejs_compat) still load this module and use WebCrypto; it is used only
// when it gives the hash WebCrypto would, since a runtime's node:crypto may be a partial one.
const nodeCrypto: NodeCrypto | undefined = (() => {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const mod = proc?.getBuiltinModule?.('node:crypto') as Partial<NodeCrypto> | undefined;
    if (typeof mod?.createHash !== 'function') return undefined;
    const works = mod.createHash('sha256').update(new Uint8Array(0)).digest('base64url') === EMPTY_HASH;
    return works ? (mod as NodeCrypto) : undefined;
  } catch {
    return undefined;
  }
})();

/** `bodyHash` computed synchronously, where the runtime can (node:crypto); undefined elsewhere. */
export const bodyHashSync: ((body: Uint8Array) => string) | undefined = nodeCrypto
  ? (body) => nodeCrypto.createHash('sha256').update(body).digest('base64url')
  : undefined;

/** Compares two strings without an early exit, so timing does not reveal the common prefix. */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
