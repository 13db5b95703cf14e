// A store that fails for good takes the engine down: the library hears of it once, and the command exits non-zero.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/index.ts';
import { isFatalStoreError } from '../../src/engine/store/pglite-fatal.ts';
import type { PushworkerError } from '../../src/protocol/errors.ts';
import { stopProcess } from '../support/process.ts';
import { until } from '../support/until.ts';

const TOKEN = 'pwa_store-failure-token-0123456789';
const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'pushworker-store-failure-'));
  dirs.push(dir);
  return join(dir, 'data');
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('fatal store errors', () => {
  it('are the errors after which PGlite cannot go on', () => {
    expect(isFatalStoreError({ message: 'x', code: '58P01' })).toBe(true);
    expect(isFatalStoreError({ message: 'x', code: 'XX001' })).toBe(true);
    expect(isFatalStoreError({ message: 'x', severity: 'PANIC' })).toBe(true);
    expect(isFatalStoreError({ message: 'unreachable', name: 'RuntimeError' })).toBe(true);
    expect(isFatalStoreError({ message: 'x', code: '23505', severity: 'ERROR' })).toBe(false);
    expect(isFatalStoreError({ message: 'x', code: '53100' })).toBe(false);
    expect(isFatalStoreError({ message: 'x' })).toBe(false);
  });
});

describe('an embedded store whose files are removed', () => {
  let engine: Engine | undefined;
  afterAll(() => engine?.stop());

  it('stops the engine once, and its routes answer 503 store_failed', async () => {
    const dataDir = freshDir();
    const fatal: PushworkerError[] = [];
    engine = await createEngine({ dataDir, apiTokens: [TOKEN], onFatal: (e) => fatal.push(e) });
    await engine.start();
    rmSync(dataDir, { recursive: true, force: true });
    const enqueue = () =>
      engine!.app.request('/v1/runs', {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'echo', input: {} }),
      });
    // Minting a token opens the tokens table's file, which no statement since the start has opened.
    await expect(engine.createToken('worker', 'w')).rejects.toMatchObject({ code: 'store_failed' });
    await until(() => fatal.length > 0, 'the engine to hear of the failure');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.code).toBe('store_failed');
    expect(fatal[0]!.message).toMatch(/^the embedded store has failed: /);
    const health = await engine.app.request('/health');
    expect(health.status).toBe(503);
    expect(((await health.json()) as { error: { code: string } }).error.code).toBe('store_failed');
    const again = await enqueue();
    expect(again.status).toBe(503);
    expect(fatal).toHaveLength(1);
  });
});

describe('an embedded store whose thread dies', () => {
  it('fails every later call with store_failed, and says so once', async () => {
    const fatal: PushworkerError[] = [];
    const engine = await createEngine({ apiTokens: [TOKEN], onFatal: (e) => fatal.push(e) });
    try {
      // What a crash of the thread looks like from the engine: the thread exits without being asked to.
      await (engine.sql as unknown as { thread: { terminate(): Promise<number> } }).thread.terminate();
      await until(() => fatal.length > 0, 'the engine to hear of the thread');
      expect(fatal[0]!.message).toMatch(/the embedded store has failed: its thread exited with code 1/);
      await expect(engine.sql.query('SELECT 1')).rejects.toMatchObject({ code: 'store_failed' });
      expect(fatal).toHaveLength(1);
    } finally {
      await engine.stop();
    }
  });
});

describe('the engine command on a store that fails', { timeout: 120_000 }, () => {
  it('exits 1 with one clear line, so that a supervisor restarts it', async () => {
    const dataDir = freshDir();
    const child = spawn(
      process.execPath,
      ['bin/pushworker.mjs', 'engine', '--port', '0', '--data-dir', dataDir, '--api-token', TOKEN],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d) => {
        stdout += d;
      });
      child.stderr!.on('data', (d) => {
        stderr += d;
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const url = await until(() => /engine listening on (\S+)/.exec(stdout)?.[1], 'the engine to listen', {
        timeoutMs: 90_000,
        detail: () => stdout + stderr,
      });
      rmSync(dataDir, { recursive: true, force: true });
      // Minting a token opens the tokens table's file, which no statement since the start has opened.
      const minted = await fetch(`${url}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'worker', worker: 'w' }),
      });
      expect(minted.status).toBe(503);
      expect(await exited).toBe(1);
      expect(stderr).toMatch(/pushworker engine: the embedded store has failed: .+; exiting/);
    } finally {
      await stopProcess(child);
    }
  });
});
