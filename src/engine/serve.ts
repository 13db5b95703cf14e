// Serving an engine over HTTP on Node; closes the listener before stopping the engine.
import type { ServerType } from '@hono/node-server';
import { lazyPeer } from '../optional-peer.ts';
import type { Engine } from './engine.ts';

const loadNodeServer = lazyPeer('@hono/node-server', 'serving the engine', () => import('@hono/node-server'));

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
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await engine.stop();
    },
  };
}
