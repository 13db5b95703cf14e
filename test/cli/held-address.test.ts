// Children started on port 0 and reached at an address held for them: no port is picked first and bound later.
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type HeldAddress, holdAddress, listenedUrl } from '../../src/cli/held-address.ts';
import { type LocalStack, startLocalStack } from '../../src/cli/local-stack.ts';
import { exampleWorkerFile } from '../../src/cli/worker-process.ts';

const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

/** An HTTP server on port 0 answering `name`, and the URL it bound. */
async function answering(name: string): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => res.end(name));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  opened.push({ close: () => new Promise((resolve) => server.close(resolve)) });
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

async function held(waitMs?: number): Promise<HeldAddress> {
  const address = await holdAddress(waitMs === undefined ? {} : { waitMs });
  opened.push(address);
  return address;
}

const get = async (url: string) =>
  (await fetch(url, { headers: { connection: 'close' }, signal: AbortSignal.timeout(10_000) })).text();

describe('listen lines', () => {
  it('gives the URL of the line serve logs, on one interface or on every one', () => {
    expect(listenedUrl('2026-12-03T05:00:00.000Z [INFO] listening on http://127.0.0.1:41234')).toBe(
      'http://127.0.0.1:41234',
    );
    expect(
      listenedUrl(
        '[INFO] listening on 0.0.0.0:5000, every interface (http://127.0.0.1:5000 from this machine)',
      ),
    ).toBe('http://127.0.0.1:5000');
    expect(listenedUrl('soak engine listening on http://127.0.0.1:7001')).toBe('http://127.0.0.1:7001');
    expect(listenedUrl('registered with the engine')).toBeUndefined();
  });
});

describe('a held address', () => {
  it('is bound at once, holds connections until the child listens, and keeps its port across restarts', async () => {
    const address = await held();
    expect(address.url).toBe(`http://127.0.0.1:${address.port}`);
    // Asked before any child listens: answered once one does.
    const early = get(address.url);
    await new Promise((r) => setTimeout(r, 100));
    const first = await answering('first');
    address.forwardTo(first.url);
    expect(await early).toBe('first');
    expect(await get(address.url)).toBe('first');

    // The child goes away and comes back on another port: the address stays.
    address.forwardTo(undefined);
    const waiting = get(address.url);
    const second = await answering('second');
    expect(second.url).not.toBe(first.url);
    address.forwardTo(second.url);
    expect(await waiting).toBe('second');
    expect(await get(address.url)).toBe('second');
  });

  it('closes a connection when no child listens within its wait', async () => {
    const address = await held(200);
    await expect(get(address.url)).rejects.toThrow();
  });

  it('is distinct for each one held at once', async () => {
    const addresses = await Promise.all(Array.from({ length: 16 }, () => held()));
    expect(new Set(addresses.map((a) => a.port)).size).toBe(16);
  });
});

describe('local stacks', () => {
  it('come up side by side when started at once, each worker at an address of its own', async () => {
    const start = () =>
      startLocalStack({
        port: 0,
        engine: { dataDir: mkdtempSync(join(tmpdir(), 'pw-stacks-')) },
        workerFile: exampleWorkerFile(),
        workerName: 'example-worker',
        onWorkerLine: () => {},
      });
    const stacks: LocalStack[] = await Promise.all([start(), start()]);
    opened.push(...stacks.map((s) => ({ close: () => s.stop() })));
    const workers = await Promise.all(stacks.map((s) => s.waitForWorker(45_000)));
    expect(workers.map((w) => w.url)).toEqual(stacks.map((s) => s.workerUrl));
    expect(new Set(stacks.map((s) => s.workerUrl)).size).toBe(2);
    const outputs = await Promise.all(
      stacks.map(async (s, i) => {
        const run = await s.client.enqueue({ task: 'echo', input: { message: `stack ${i}` } });
        return (await s.client.waitRun(run.id, { timeoutMs: 30_000 })).output;
      }),
    );
    expect(outputs).toEqual([{ message: 'stack 0' }, { message: 'stack 1' }]);
  }, 90_000);
});
