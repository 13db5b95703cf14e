// `pushworker dev`: an embedded engine and a worker side by side, the worker restarted when its code changes.
import { type Command, type CommandSpec, defineCommand, intOption } from './args.ts';
import { startLocalStack } from './local-stack.ts';
import { exampleWorkerFile } from './worker-process.ts';

const spec = {
  usage: 'pushworker dev [worker file] [--name NAME] [--port N] [--data-dir DIR]',
  summary:
    'Development: engine and worker side by side, with hot reload of the worker (like `hatchet worker dev`).',
  options: { name: { type: 'string' }, port: { type: 'string' }, 'data-dir': { type: 'string' } },
  help: [
    'worker file       a file that serves a worker configured from the environment (default: the example worker)',
    '--name NAME       the worker name its token is minted for (default example-worker)',
    '--port N          the engine port (default 7070)',
    '--data-dir DIR    the embedded store (default .data/dev)',
  ],
} satisfies CommandSpec;

export const dev: Command = defineCommand(spec, async ({ values, positionals }, out) => {
  const stack = await startLocalStack({
    port: intOption(values.port, 'port') ?? 7070,
    engine: { dataDir: values['data-dir'] ?? '.data/dev', leaseMs: 30_000 },
    workerFile: positionals[0] ?? exampleWorkerFile(),
    workerName: values.name ?? 'example-worker',
    watch: true,
    workerEnv: {
      PUSHWORKER_SHUTDOWN_GRACE_MS: '2000',
      PUSHWORKER_LOG_LEVEL: process.env.PUSHWORKER_LOG_LEVEL ?? 'debug',
    },
    onWorkerLine: (line) => out(`[worker] ${line}`),
  });
  out(`engine listening on ${stack.served.url} (store: ${stack.engine.sql.kind})`);
  out(`API token: ${stack.apiToken}`);
  out(`dashboard: ${stack.served.url}/dashboard#token=${stack.apiToken}`);
  out(
    `try: PUSHWORKER_API_TOKEN=${stack.apiToken} npx pushworker run echo --input '{"message":"hi"}' --wait`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  out('stopping');
  await stack.stop();
  return 0;
});
