// The example worker mounted as a sub-app of a Hono app, next to the app's own routes.
import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { useNodePlatform } from '../../adapters/node.ts';
import { configFromEnv, createWorker } from '../../src/index.ts';
import { tasks, workflows } from '../tasks.ts';

export function createApp(env: Record<string, string | undefined> = process.env) {
  const config = configFromEnv(env);
  const worker = createWorker({ ...config, name: config.name ?? 'example-worker', tasks, workflows });
  useNodePlatform(worker); // served by @hono/node-server below: Node's body reading, hash and engine calls
  const app = new Hono();
  app.route('/pushworker', worker.app);
  app.get('/', (c) => c.json({ app: 'my hono app' }));
  return { app, worker };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { app, worker } = createApp();
  worker.start();
  const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 8080) });
  process.once('SIGTERM', async () => {
    await worker.stop();
    server.close();
  });
}
