// What a runtime adapter gives a worker where it has something better than the Web APIs: calls to the engine, the
// `bh` hash, the push signature check, and request bodies read from the server's own request. Set after
// `createWorker`, before the first request.
import type { BodyHasher } from '../auth/hash.ts';
import type { SignatureVerifier } from '../auth/push.ts';
import type { BodyReader } from '../http/body.ts';

export interface Platform {
  fetch: typeof fetch;
  hashBody?: BodyHasher;
  verifySignature?: SignatureVerifier;
  readBody?: BodyReader;
}

interface Held {
  platform: Platform;
  /** The user passed their own `fetch` to `createWorker`: an adapter's does not replace it. */
  fetchGiven: boolean;
}

const held = new WeakMap<object, Held>();

/** The platform of a worker being made: Web `fetch` unless the user gave one; no hasher, verifier or body reader. */
export function platformFor(worker: object, fetchGiven: typeof fetch | undefined): Platform {
  const platform: Platform = { fetch: fetchGiven ?? ((input, init) => fetch(input, init)) };
  held.set(worker, { platform, fetchGiven: fetchGiven !== undefined });
  return platform;
}

/** An adapter's services for `worker`; a `fetch` the user passed to `createWorker` is kept. */
export function adoptPlatform(worker: object, given: Partial<Platform>): void {
  const entry = held.get(worker);
  if (!entry) throw new TypeError('adoptPlatform takes a worker made by createWorker');
  const { fetch, ...rest } = given;
  Object.assign(entry.platform, rest);
  if (fetch && !entry.fetchGiven) entry.platform.fetch = fetch;
}
