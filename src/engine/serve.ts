// Serving an engine over HTTP on Node; closes the listener before stopping the engine.
import type { ServerType } from '@hono/node-server';
import { lazyPeer } from '../optional-peer.ts';
import type { Engine } from './engine.ts';

const loadNodeServer = lazyPeer('@hono/node-server', 'serving the engine', () => import('@hono/node-server'));

/** How long requests under way at close may take to be answered before their connections are cut. */
const CLOSE_DRAIN_MS = 1_000;

export interface ServeEngineOptions {
  port?: number;
  hostname?: string;
}

export interface ServedEngine {
  url: string;
  port: number;
  /** Stops accepting requests, then stops the engine. */
  close(): Promise<void>;
}

export async function serveEngine(engine: Engine, options: ServeEngineOptions = {}): Promise<ServedEngine> {
  const hostname = options.hostname ?? '127.0.0.1';
  const { serve } = await loadNodeServer();
  const { server, port } = await new Promise<{ server: ServerType; port: number }>((resolve, reject) => {
    const server = serve({ fetch: engine.app.fetch, port: options.port ?? 0, hostname }, (info) =>
      resolve({ server, port: info.port }),
    );
    server.once('error', reject);
  });
  const url = `http://${hostname}:${port}`;
  if (!engine.url) engine.url = url;
  await engine.start();
  return {
    url,
    port,
    async close() {
      // Answers being written are let finish for a moment; idle connections and long waits are not.
      const connections = server as { closeIdleConnections?: () => void; closeAllConnections?: () => void };
      await new Promise<void>((resolve) => {
        const cut = setTimeout(() => connections.closeAllConnections?.(), CLOSE_DRAIN_MS);
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        connections.closeIdleConnections?.();
      });
      await engine.stop();
    },
  };
}
