// `pushworker dev`: an embedded engine and a worker side by side, the worker restarted when its code changes.
import { type Command, type CommandSpec, defineCommand, intOption } from './args.ts';
import { type LocalStack, startLocalStack } from './local-stack.ts';
import { exampleWorkerFile } from './worker-process.ts';

/** How long dev waits for the worker file to register before it says that nothing did. */
const REGISTRATION_HINT_MS = 15_000;

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
    'An exported PUSHWORKER_API_TOKEN is the API token the engine accepts; otherwise dev makes one.',
  ],
} satisfies CommandSpec;

export const dev: Command = defineCommand(spec, async ({ values, positionals }, out) => {
  const file = positionals[0] ?? exampleWorkerFile();
  const stack = await startLocalStack({
    port: intOption(values.port, 'port') ?? 7070,
    engine: { dataDir: values['data-dir'] ?? '.data/dev', leaseMs: 30_000 },
    workerFile: file,
    workerName: values.name ?? 'example-worker',
    watch: true,
    apiToken: process.env.PUSHWORKER_API_TOKEN || undefined,
    workerEnv: {
      PUSHWORKER_SHUTDOWN_GRACE_MS: '2000',
      PUSHWORKER_LOG_LEVEL: process.env.PUSHWORKER_LOG_LEVEL ?? 'info',
      PUSHWORKER_LOG_RUNS: process.env.PUSHWORKER_LOG_RUNS ?? 'info',
    },
    onWorkerLine: (line) => out(`[worker] ${line}`),
  });
  out(`engine listening on ${stack.served.url} (store: ${stack.engine.sql.kind})`);
  out(`API token: ${process.env.PUSHWORKER_API_TOKEN ? '(your PUSHWORKER_API_TOKEN)' : stack.apiToken}`);
  out(`dashboard: ${stack.served.url}/dashboard#token=${stack.apiToken}`);
  void announceWorker(stack, file, values.name ?? 'example-worker', out);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  out('stopping');
  await stack.stop();
  return 0;
});

/** Once the worker registers, a command to try with one of its own tasks; if it never does, why that may be. */
async function announceWorker(stack: LocalStack, file: string, name: string, out: (line: string) => void) {
  try {
    const worker = await stack.waitForWorker(REGISTRATION_HINT_MS);
    const [first] = worker.tasks;
    const token = process.env.PUSHWORKER_API_TOKEN ? '' : `PUSHWORKER_API_TOKEN=${stack.apiToken} `;
    out(`worker ${name} registered with tasks: ${worker.tasks.map((t) => t.name).join(', ') || '(none)'}`);
    if (first) {
      const input = first.name === 'echo' ? `'{"message":"hi"}'` : "'<its input as JSON>'";
      out(`try: ${token}npx pushworker run ${first.name} --url ${stack.served.url} --input ${input} --wait`);
    }
  } catch {
    out(
      `no worker named ${name} has registered from ${file}: it should serve one, as in ` +
        '`await serve(createWorker({ ...configFromEnv(process.env), tasks }))`, and take its name from ' +
        'PUSHWORKER_NAME (or pass --name)',
    );
  }
}
