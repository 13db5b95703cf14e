// Node adapter: serve a worker with @hono/node-server, or mount it in Express; graceful shutdown on SIGTERM/SIGINT.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener, serve as honoServe } from '@hono/node-server';
import type { Dispatcher } from 'undici';
import { lazyPeer } from '../src/optional-peer.ts';
import type { Worker } from '../src/worker/worker.ts';

export interface ServeOptions {
  port?: number;
  hostname?: string;
  /** Register with the engine and heartbeat (default true). */
  start?: boolean;
  /** Stop gracefully and exit 0 on SIGTERM and SIGINT (default true). */
  handleSignals?: boolean;
  graceMs?: number;
}

export interface NodeWorkerServer {
  server: Server;
  port: number;
  url: string;
  /** Graceful stop: refuse new pushes, drain runs, flush events, then close the socket. */
  close(): Promise<void>;
}

export async function serve(worker: Worker, options: ServeOptions = {}): Promise<NodeWorkerServer> {
  const hostname = options.hostname ?? '0.0.0.0';
  const { server, info } = await new Promise<{ server: Server; info: AddressInfo }>((resolve) => {
    // An HTTP/1.1 server: `serve` is given no `createServer` of its own.
    const s = honoServe({ fetch: worker.fetch, port: options.port ?? 8080, hostname }, (info) =>
      resolve({ server: s as Server, info }),
    );
  });
  const host = hostname === '0.0.0.0' || hostname === '::' ? '127.0.0.1' : hostname;
  const url = `http://${host}:${info.port}`;
  worker.log.info(`listening on ${url}`);
  if (options.start !== false) worker.start();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await worker.stop(options.graceMs === undefined ? {} : { graceMs: options.graceMs });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })();
    return closing;
  };

  if (options.handleSignals !== false) stopOnSignals(worker, close);
  return { server, port: info.port, url, close };
}

/**
 * On SIGTERM or SIGINT: stop the worker gracefully, run `close` (for a server of your own, as when mounted in
 * Express), then exit 0. `serve` installs this itself.
 */
export function stopOnSignals(worker: Worker, close: () => Promise<void> = () => worker.stop()): void {
  const onSignal = (signal: NodeJS.Signals) => {
    worker.log.info(`received ${signal}; shutting down gracefully`);
    worker
      .stop()
      .then(close)
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

/**
 * A Node request listener for mounting in Express: `app.use('/pushworker', requestListener(worker))`.
 * Mount it before any body parser, because the signature covers the raw body bytes.
 */
export function requestListener(
  worker: Worker,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return getRequestListener(worker.fetch);
}

const loadUndici = lazyPeer('undici', 'nodeFetch', () => import('undici'));

/**
 * A `fetch` for a worker's calls to the engine on Node: `createWorker({ ...options, fetch: nodeFetch })`. It is
 * undici's `request` under fetch's signature, for what those calls send (a method, headers, a string body, a
 * signal); it follows no redirects. Node's own fetch hands each response to a finalization registry, and such
 * objects outlive young-generation collections: at hundreds of event posts a second the worker's old space
 * filled every few seconds, and each full collection paused it for 10-20 ms.
 */
export const nodeFetch: typeof fetch = async (input, init = {}) => {
  const { request } = await loadUndici();
  const given = input instanceof Request ? input : undefined;
  if (given?.body) throw new TypeError('nodeFetch sends a body given in init, not in a Request');
  const response = await request(given ? given.url : String(input), {
    method: (init.method ?? given?.method ?? 'GET') as Dispatcher.HttpMethod,
    headers: (init.headers ?? given?.headers) as Record<string, string> | undefined,
    body: init.body as string | Uint8Array | null | undefined,
    signal: init.signal ?? undefined,
  });
  const text = await response.body.text();
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    for (const v of [value ?? []].flat()) headers.append(name, v);
  }
  const empty = response.statusCode === 204 || response.statusCode === 304;
  return new Response(empty ? null : text, { status: response.statusCode, headers });
};
