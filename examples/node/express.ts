// The example worker mounted as a route of an Express app, next to the app's own routes.
import { pathToFileURL } from 'node:url';
import express from 'express';
import { requestListener } from '../../adapters/node.ts';
import { configFromEnv, createWorker } from '../../src/index.ts';
import { tasks, workflows } from '../tasks.ts';

export function createApp(env: Record<string, string | undefined> = process.env) {
  const config = configFromEnv(env);
  const worker = createWorker({ ...config, name: config.name ?? 'example-worker', tasks, workflows });
  const app = express();
  // Before any body parser: the push signature covers the exact raw body bytes.
  app.use('/pushworker', requestListener(worker));
  app.use(express.json());
  app.get('/', (_req, res) => {
    res.json({ app: 'my express app' });
  });
  return { app, worker };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { app, worker } = createApp();
  worker.start();
  const server = app.listen(Number(process.env.PORT ?? 8080));
  process.once('SIGTERM', async () => {
    await worker.stop();
    server.close();
  });
}
