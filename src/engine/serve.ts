// Serving an engine over HTTP on Node; closes the listener before stopping the engine.
import { type ServerType, serve } from '@hono/node-server';
import type { Engine } from './engine.ts';

export interface ServeOptions {
  port?: number;
  hostname?: string;
}

export interface ServedEngine {
  url: string;
  port: number;
  /** Stops accepting requests, then stops the engine. */
  close(): Promise<void>;
}

export async function serveEngine(engine: Engine, options: ServeOptions = {}): Promise<ServedEngine> {
  const hostname = options.hostname ?? '127.0.0.1';
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
