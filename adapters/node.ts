// Node adapter: serve a worker with @hono/node-server, or mount it in Express; graceful shutdown on SIGTERM/SIGINT.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener, serve as honoServe } from '@hono/node-server';
import { nodeBodyReader } from '../src/node/body.ts';
import { nodeFetch } from '../src/node/fetch.ts';
import { nodeBodyHash } from '../src/node/hash.ts';
import { nodeSignatureVerifier } from '../src/node/verify.ts';
import { adoptPlatform, type Platform } from '../src/worker/platform.ts';
import type { Worker } from '../src/worker/worker.ts';

export interface ServeOptions {
  /** Default 8080; 0 takes a free port (read it back from the result). */
  port?: number;
  /** The interface to listen on (default `0.0.0.0`, every interface; `127.0.0.1` for this machine alone). */
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
  useNodePlatform(worker);
  const hostname = options.hostname ?? '0.0.0.0';
  const { server, info } = await new Promise<{ server: Server; info: AddressInfo }>((resolve) => {
    // An HTTP/1.1 server: `serve` is given no `createServer` of its own.
    const s = honoServe({ fetch: worker.fetch, port: options.port ?? 8080, hostname }, (info) =>
      resolve({ server: s as Server, info }),
    );
  });
  const everyInterface = hostname === '0.0.0.0' || hostname === '::';
  const host = everyInterface ? '127.0.0.1' : hostname.includes(':') ? `[${hostname}]` : hostname;
  const url = `http://${host}:${info.port}`;
  worker.log.info(
    everyInterface
      ? `listening on ${hostname === '::' ? '[::]' : hostname}:${info.port}, every interface (${url} from this machine)`
      : `listening on ${url}`,
  );
  // On loopback the bound address is the one to reach: registered when no URL is configured (port 0 included).
  if (options.start !== false) worker.start(isLoopback(hostname) ? { listeningUrl: url } : {});

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

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '::1' || hostname.startsWith('127.');
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
  useNodePlatform(worker);
  return getRequestListener(worker.fetch);
}

/**
 * Gives `worker` what Node offers beyond the Web APIs: bodies read from Node's request when @hono/node-server
 * serves it, node:crypto's hash and signature check, and, where undici is installed, undici's `request` for the
 * calls to the engine (a `fetch` passed to `createWorker` is kept). `serve` and `requestListener` do this
 * themselves; call it for a worker mounted as a Hono sub-app on Node.
 */
export function useNodePlatform(worker: Worker): void {
  const platform: Partial<Platform> = {
    readBody: nodeBodyReader,
    hashBody: nodeBodyHash,
    verifySignature: nodeSignatureVerifier,
  };
  if (undiciInstalled()) platform.fetch = nodeFetch;
  adoptPlatform(worker, platform);
}

function undiciInstalled(): boolean {
  try {
    import.meta.resolve('undici');
    return true;
  } catch {
    return false;
  }
}
