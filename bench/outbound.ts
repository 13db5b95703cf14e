// Outbound benchmark: what hostile worker URLs cost the engine. An engine process (outbound-server.ts) is made
// to read a 200 MB /health answer (register by URL), a 200 MB push answer (a worker registered with a token),
// and a manifest trickled at 1 byte/s; each line says the engine's peak RSS growth, how much of the answer
// the server got to send before the engine closed the connection, and how long the engine took to answer.
import { fork } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const ANSWER_BYTES = 200 * 1024 * 1024;
const TRICKLE_WAIT_MS = Number(process.env.BENCH_TRICKLE_WAIT_MS ?? 30_000);
const API_TOKEN = 'pwa_bench-outbound-0123456789abcdef';
const MiB = 1024 * 1024;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function hostile(handler: Handler): Promise<{ url: string; close(): void }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

interface Streamed {
  sent: number;
  cut: boolean;
  done: Promise<void>;
}

/** Streams `total` bytes of a JSON string's inside, honouring back-pressure, until done or cut off. */
function stream(res: ServerResponse, prefix: string, total: number): Streamed {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const state: Streamed = { sent: 0, cut: false, done: Promise.resolve() };
  state.done = new Promise<void>((resolve) => {
    res.once('close', () => {
      state.cut = state.sent < total;
      resolve();
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(prefix);
    const pump = () => {
      while (state.sent < total && !res.destroyed) {
        state.sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end('"}');
    };
    pump();
  });
  return state;
}

interface EngineProcess {
  url: string;
  ask(type: string): Promise<{ rss?: number }>;
  api(method: string, path: string, body: unknown, token?: string): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/** A fresh engine process, so that one scenario's memory does not hide the next one's. */
async function startEngine(): Promise<EngineProcess> {
  const engine = fork(new URL('./outbound-server.ts', import.meta.url), [], {
    env: {
      ...process.env,
      BENCH_ENGINE: JSON.stringify({ apiTokens: [API_TOKEN], allowPrivateTargets: true }),
    },
    execArgv: ['--import', 'tsx', '--expose-gc'],
  });
  const ask = (type: string) =>
    new Promise<{ url?: string; rss?: number }>((resolve) => {
      engine.once('message', resolve);
      if (type !== 'ready') engine.send({ type });
    });
  const { url } = (await ask('ready')) as { url: string };
  const api = async (method: string, path: string, body: unknown, token = API_TOKEN) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const exited = new Promise((r) => engine.once('exit', r));
  return {
    url,
    ask,
    api,
    async stop() {
      engine.send({ type: 'stop' });
      await exited;
    },
  };
}

async function main() {
  const report = (what: string, before: number, after: number, extra: string) =>
    console.log(
      `${what}: engine RSS ${(before / MiB).toFixed(0)} -> peak ${(after / MiB).toFixed(0)} MB (+${((after - before) / MiB).toFixed(0)}); ${extra}`,
    );

  {
    const { ask, api, stop } = await startEngine();
    let streamed: Streamed | undefined;
    const server = await hostile((req, res) => {
      if (req.url === '/health') streamed = stream(res, '{"name":"', ANSWER_BYTES);
      else res.writeHead(404).end();
    });
    const before = (await ask('reset')).rss!;
    const t = performance.now();
    const answer = await api('POST', '/v1/workers/register', { url: server.url });
    const ms = performance.now() - t;
    await streamed?.done;
    const peak = (await ask('peak')).rss!;
    report(
      'register by URL, /health streams 200 MB',
      before,
      peak,
      `answered ${answer.status} in ${ms.toFixed(0)} ms, the server sent ${((streamed?.sent ?? 0) / MiB).toFixed(1)} MB (${streamed?.cut ? 'cut off' : 'read whole'}): ${answer.body?.error?.message ?? ''}`,
    );
    server.close();
    await stop();
  }

  {
    const { ask, api, stop } = await startEngine();
    let first: Streamed | undefined;
    let pushes = 0;
    const server = await hostile((req, res) => {
      if (req.method !== 'POST') return void res.writeHead(404).end();
      pushes++;
      req.resume();
      // Later pushes are left unanswered, so that the worker's push failure stays the first push's.
      if (pushes === 1) first = stream(res, '{"accepted":"', ANSWER_BYTES);
    });
    const name = 'bench-hostile';
    const { token } = (await api('POST', '/v1/tokens', { kind: 'worker', worker: name })).body;
    const task = { name: 'echo', inputSchema: {}, timeoutMs: 60_000, retries: 0, slotCost: 1 };
    const registered = await api(
      'PUT',
      '/v1/workers',
      { name, url: server.url, slots: 1, tasks: [task] },
      token,
    );
    if (registered.status !== 200) throw new Error(`registration: ${JSON.stringify(registered.body)}`);
    const before = (await ask('reset')).rss!;
    const t = performance.now();
    await api('POST', '/v1/runs', { task: 'echo', input: {} });
    // The engine has finished with the first answer once it pushes again.
    const deadline = Date.now() + 120_000;
    while (pushes < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const ms = performance.now() - t;
    const peak = (await ask('peak')).rss!;
    const workers = (await api('GET', '/v1/workers', undefined)).body?.workers ?? [];
    const failing = workers.find((w: { name: string }) => w.name === name)?.pushFailing?.reason ?? 'none';
    report(
      'push answered with 200 MB',
      before,
      peak,
      `next push after ${ms.toFixed(0)} ms, the server sent ${((first?.sent ?? 0) / MiB).toFixed(1)} MB (${first?.cut ? 'cut off' : 'read whole'}); push failure: ${failing}`,
    );
    server.close();
    await stop();
  }

  {
    const { api, stop } = await startEngine();
    let bytes = 0;
    const server = await hostile((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const timer = setInterval(() => {
        bytes++;
        res.write(' ');
      }, 1_000);
      res.once('close', () => clearInterval(timer));
    });
    const t = performance.now();
    const answer = await Promise.race([
      api('POST', '/v1/workers/register', { url: server.url, name: 'bench-trickle' }),
      new Promise<undefined>((r) => setTimeout(r, TRICKLE_WAIT_MS)),
    ]);
    const ms = performance.now() - t;
    console.log(
      answer
        ? `manifest trickled at 1 byte/s: answered ${answer.status} after ${ms.toFixed(0)} ms (${bytes} bytes sent): ${answer.body?.error?.message ?? ''}`
        : `manifest trickled at 1 byte/s: still open after ${ms.toFixed(0)} ms (${bytes} bytes sent), stopped waiting`,
    );
    server.close();
    await stop();
  }

  process.exit(0);
}

await main();
