// The example worker on AWS Lambda: the example tasks, configured by `PUSHWORKER_*` and `HATCHET_*` environment variables.
import { handle } from '../../adapters/lambda.ts';
import { configFromEnv, createWorker } from '../../src/index.ts';
import { tasks, workflows } from '../tasks.ts';

const config = configFromEnv(process.env);
const worker = createWorker({
  ...config,
  name: config.name ?? 'example-worker',
  tasks,
  workflows,
  mode: 'sync',
});

export const handler = handle(worker);
