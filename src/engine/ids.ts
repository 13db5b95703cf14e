// Ids of the rows that are written most: time-ordered, so that each new one lands at the end of its indexes.
//
// A random id (UUID v4) puts every new run, and every new version of a run, at a random place in the primary
// key's index and in the attempts' key: on a store of millions of runs each of those writes reads a leaf page that
// is rarely in the buffer cache. A time-ordered id keeps the runs under way, which are recent, on the last pages.

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix time in ms, then the version, the variant and 74 random bits. It
 * is a random UUID (v4, whose variant is v7's) with its first 48 bits set to the time and its version to 7:
 * `randomUUID` draws from an entropy pool, where a `getRandomValues` call per id cost a system call each.
 */
export function uuidv7(now = Date.now()): string {
  const random = crypto.randomUUID();
  const time = Math.max(0, Math.floor(now)).toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15)}`;
}

/** A new run's id. */
export const newRunId = (now?: number) => `run_${uuidv7(now)}`;
