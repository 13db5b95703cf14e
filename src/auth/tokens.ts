// Bearer tokens the engine mints for workers and API clients: an id to look up and a secret kept only as a hash.
import { base64url } from 'jose';
import type { TokenKind } from '../protocol/schemas.ts';
import { bodyHash, timingSafeEqual } from './hash.ts';

export type { TokenKind };

const PREFIX = 'pwt';

export interface MintedToken {
  id: string;
  /** The whole bearer value, shown once. */
  token: string;
  /** What to store: base64url(SHA-256(secret)). */
  secretHash: string;
}

function randomPart(bytes: number): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(bytes)));
}

export async function mintToken(): Promise<MintedToken> {
  const id = randomPart(9).replace(/[-_]/g, 'x');
  const secret = randomPart(32);
  return { id, token: `${PREFIX}.${id}.${secret}`, secretHash: await hashTokenSecret(secret) };
}

export function hashTokenSecret(secret: string): Promise<string> {
  return bodyHash(secret);
}

/** Splits a bearer token into id and secret; undefined when it is not one of ours. */
export function parseToken(token: string): { id: string; secret: string } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX || !parts[1] || !parts[2]) return undefined;
  return { id: parts[1], secret: parts[2] };
}

export async function tokenMatches(secret: string, secretHash: string): Promise<boolean> {
  return timingSafeEqual(await hashTokenSecret(secret), secretHash);
}

/** Reads `Authorization: Bearer <token>`. */
export function bearerOf(header: string | null | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
