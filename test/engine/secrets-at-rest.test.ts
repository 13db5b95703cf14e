// Secrets at rest: the embedded store's files are the engine user's alone, and private keys can be stored sealed.
import { execFile } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPush } from '../../src/auth/push.ts';
import { createEngine } from '../../src/engine/index.ts';
import { isSealed, KeySeal, newEncryptionKey, type StoredJwk } from '../../src/engine/key-seal.ts';
import { KeyRing } from '../../src/engine/keys.ts';
import { openStore, type Sql, truncateAll } from '../../src/engine/store/index.ts';
import { liveKeys } from '../../src/engine/store/secrets.ts';

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Every entry under `root` whose mode lets anyone but the owner in. */
function notPrivate(root: string): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    const stat = lstatSync(path);
    const mode = stat.mode & 0o777;
    if (stat.isDirectory()) {
      if (mode !== 0o700) found.push(`${path} ${mode.toString(8)}`);
      for (const name of readdirSync(path)) walk(join(path, name));
    } else if (!stat.isSymbolicLink() && mode !== 0o600) found.push(`${path} ${mode.toString(8)}`);
  };
  walk(root);
  return found;
}

describe('the embedded store on disk', () => {
  it('creates its directories 0700 and its files 0600, new WAL segments too', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'pushworker-modes-'));
    dirs.push(parent);
    const dataDir = join(parent, 'data');
    const sql = await openStore({ dataDir });
    try {
      // About 40 MB of rows: more than one 16 MB WAL segment, so files are created while the store runs.
      await sql.exec('CREATE TABLE filler (x text)');
      for (let i = 0; i < 4; i++)
        await sql.query(
          `INSERT INTO filler SELECT md5(g::text) || repeat('x', 1000) FROM generate_series(1, 10000) g`,
        );
      const wal = readdirSync(join(dataDir, 'pg_wal')).filter((n) => /^[0-9A-F]{24}$/.test(n));
      expect(wal.length).toBeGreaterThan(1);
      expect(notPrivate(dataDir)).toEqual([]);
    } finally {
      await sql.close();
    }
  });

  it('makes a directory that an earlier version left readable private when it opens it', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'pushworker-modes-'));
    dirs.push(parent);
    const dataDir = join(parent, 'data');
    await (await openStore({ dataDir })).close();
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'PG_VERSION'), 0o666);
    chmodSync(join(dataDir, 'base'), 0o777);
    expect(notPrivate(dataDir)).toHaveLength(3);
    await (await openStore({ dataDir })).close();
    expect(notPrivate(dataDir)).toEqual([]);
  });
});

describe('private keys sealed with PUSHWORKER_KEY_ENCRYPTION_KEYS', () => {
  let sql: Sql;
  beforeAll(async () => {
    sql = await openStore();
  });
  afterAll(() => sql.close());

  const rows = async () => (await liveKeys(sql, Date.now())).map((k) => ({ kid: k.kid, jwk: k.privateJwk }));
  const sealedWith = (jwk: StoredJwk) => (isSealed(jwk) ? decodeProtectedHeader(jwk.sealed).kid : undefined);
  const ring = async (keys: string[]) => {
    const keyRing = new KeyRing(sql, { retireMs: 60_000, seal: new KeySeal(keys) });
    await keyRing.load();
    return keyRing;
  };

  /** The kid of a push the ring signs, checked against the key it publishes. */
  async function signingKid(keyRing: KeyRing): Promise<string> {
    const token = await signPush({ key: keyRing.signing(), issuer: 'engine', audience: 'w', body: '{}' });
    const kid = decodeProtectedHeader(token).kid!;
    const published = keyRing.jwks().keys.find((k) => k.kid === kid);
    await compactVerify(token, await importJWK(published as JWK, 'EdDSA'));
    return kid;
  }

  it('stores a generated key sealed, and signs with it after a restart', async () => {
    await truncateAll(sql);
    const key = newEncryptionKey();
    const first = await signingKid(await ring([key]));
    const [row] = await rows();
    expect(row!.kid).toBe(first);
    expect(isSealed(row!.jwk)).toBe(true);
    expect(JSON.stringify(row!.jwk)).not.toContain('"d"');
    expect(await signingKid(await ring([key]))).toBe(first);
    const rotating = await ring([key]);
    await rotating.rotate();
    expect((await rows()).every((r) => isSealed(r.jwk))).toBe(true);
  });

  it('seals keys stored before encryption was configured, and reseals with a new first key', async () => {
    await truncateAll(sql);
    const plain = await signingKid(await ring([]));
    expect(isSealed((await rows())[0]!.jwk)).toBe(false);
    const oldKey = newEncryptionKey();
    expect(await signingKid(await ring([oldKey]))).toBe(plain);
    const sealedOld = sealedWith((await rows())[0]!.jwk);
    expect(sealedOld).toBeDefined();
    const newKey = newEncryptionKey();
    expect(await signingKid(await ring([newKey, oldKey]))).toBe(plain);
    const sealedNew = sealedWith((await rows())[0]!.jwk);
    expect(sealedNew).not.toBe(sealedOld);
    // The old key can go now: nothing is sealed with it any more.
    expect(await signingKid(await ring([newKey]))).toBe(plain);
  });

  it('refuses to start without a key that opens the stored keys, naming the setting', async () => {
    await truncateAll(sql);
    await ring([newEncryptionKey()]);
    const start = (keyEncryptionKeys: string[]) => createEngine({ sql, keyEncryptionKeys });
    await expect(start([])).rejects.toMatchObject({
      code: 'misconfigured',
      message: expect.stringContaining('PUSHWORKER_KEY_ENCRYPTION_KEYS holds none'),
    });
    await expect(start([newEncryptionKey()])).rejects.toMatchObject({ code: 'misconfigured' });
  });

  it('refuses a sealed key that was altered or moved onto another row', async () => {
    const key = newEncryptionKey();
    const seal = new KeySeal([key]);
    const sealed = await seal.seal({ kty: 'OKP', crv: 'Ed25519', x: 'x', d: 'd' }, 'kid-a');
    await expect(seal.open(sealed, 'kid-b')).rejects.toMatchObject({
      code: 'misconfigured',
      message: expect.stringContaining('sealed for another key'),
    });
    const text = (sealed as { sealed: string }).sealed;
    // One character of the ciphertext changed (never to itself, whatever the random nonce made it).
    const at = text.length - 3;
    const altered = { sealed: `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}` };
    await expect(seal.open(altered, 'kid-a')).rejects.toMatchObject({
      code: 'misconfigured',
      message: expect.stringContaining('does not decrypt'),
    });
  });

  it('takes only 32-byte base64url keys', () => {
    expect(() => new KeySeal(['too-short'])).toThrow(/key 1 is not 32 bytes/);
    expect(() => new KeySeal([Buffer.alloc(32).toString('hex')])).toThrow(/not 32 bytes/);
    expect(new KeySeal([newEncryptionKey()]).enabled).toBe(true);
  });

  it('the command makes such a key, offline', async () => {
    const { stdout } = await run(process.execPath, ['bin/pushworker.mjs', 'keys', 'encryption-key']);
    const key = stdout.trim();
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new KeySeal([key]).enabled).toBe(true);
  });
});
