// The `bh` body hash with node:crypto: on Node a WebCrypto digest is a thread-pool job that costs a push-sized body
// far more than hashing it in place.
import { createHash } from 'node:crypto';
import type { BodyHasher } from '../auth/hash.ts';

export const nodeBodyHash: BodyHasher = (body) => createHash('sha256').update(body).digest('base64url');
