// The example worker on Node, configured only by environment (see the README's configuration reference).
import { serve } from '../../adapters/node.ts';
import { configFromEnv, createWorker } from '../../src/index.ts';
import { tasks, workflows } from '../tasks.ts';

try {
  const config = configFromEnv(process.env);
  const worker = createWorker({ ...config, name: config.name ?? 'example-worker', tasks, workflows });
  await serve(worker, { port: Number(process.env.PORT ?? 8080), hostname: process.env.HOST || '0.0.0.0' });
} catch (error) {
  console.error(`pushworker: ${(error as Error).message}`);
  process.exit(1);
}
