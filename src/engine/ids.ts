// Ids of the rows that are written most: time-ordered, so that each new one lands at the end of its indexes.
//
// A random id (UUID v4) puts every new run, and every new version of a run, at a random place in the primary
// key's index and in the attempts' key: on a store of millions of runs each of those writes reads a leaf page that
// is rarely in the buffer cache. A time-ordered id keeps the runs under way, which are recent, on the last pages.

/** A UUID version 7 (RFC 9562): 48 bits of Unix time in ms, then the version, the variant and 74 random bits. */
export function uuidv7(now = Date.now()): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let ms = Math.max(0, Math.floor(now));
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A new run's id. */
export const newRunId = (now?: number) => `run_${uuidv7(now)}`;
