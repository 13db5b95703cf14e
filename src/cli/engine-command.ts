// `pushworker engine`: the dispatcher as a process, configured by flags over environment variables.
import { randomBytes } from 'node:crypto';
import { createEngine, engineConfigFromEnv, serveEngine } from '../engine/index.ts';
import { tuneForEmbeddedStore } from '../engine/store/pglite.ts';
import { type Command, type CommandSpec, defineCommand, intOption } from './args.ts';

const spec = {
  usage: 'pushworker engine [--port N] [--host H] [--data-dir DIR | --database-url URL] [--lease-ms N]',
  summary: 'Runs the engine: the queue, the API, and the dispatcher that pushes signed work to workers.',
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    'data-dir': { type: 'string' },
    'database-url': { type: 'string' },
    'lease-ms': { type: 'string' },
    'public-url': { type: 'string' },
    'api-token': { type: 'string' },
  },
  help: [
    '--port N              listen port (env PORT, default 7070)',
    '--host H              listen address (default 127.0.0.1)',
    '--data-dir DIR        embedded store directory (env PUSHWORKER_DATA_DIR, default .data/engine)',
    '--database-url URL    use a Postgres server instead (env DATABASE_URL)',
    '--lease-ms N          re-queue a run after this long without a heartbeat (env PUSHWORKER_LEASE_MS, default 30000)',
    '--public-url URL      the URL workers reach the engine at (env PUSHWORKER_PUBLIC_URL)',
    '--api-token TOKEN     accept this API token (env PUSHWORKER_API_TOKEN); one is generated when none is given',
    'Every other setting: see the README configuration reference.',
  ],
} satisfies CommandSpec;

export const engine: Command = defineCommand(spec, async ({ values }, out) => {
  const fromEnv = engineConfigFromEnv(process.env);
  const generated = fromEnv.apiTokens.length === 0 && !values['api-token'];
  const apiToken =
    values['api-token'] ?? (generated ? `pwa_${randomBytes(24).toString('base64url')}` : undefined);
  const databaseUrl = values['database-url'] ?? fromEnv.databaseUrl;
  if (!databaseUrl) tuneForEmbeddedStore();
  let failed: (error: Error) => void = () => {};
  const failure = new Promise<Error>((resolve) => {
    failed = resolve;
  });
  const instance = await createEngine({
    onFatal: (error) => failed(error),
    ...fromEnv,
    ...(databaseUrl ? { databaseUrl } : { dataDir: values['data-dir'] ?? fromEnv.dataDir ?? '.data/engine' }),
    ...(values['lease-ms'] ? { leaseMs: intOption(values['lease-ms'], 'lease-ms') } : {}),
    ...(values['public-url'] ? { publicUrl: values['public-url'] } : {}),
    apiTokens: [...fromEnv.apiTokens, ...(apiToken ? [apiToken] : [])],
  });
  const served = await serveEngine(instance, {
    port: intOption(values.port, 'port') ?? Number(process.env.PORT ?? 7070),
    hostname: values.host ?? '127.0.0.1',
  });
  out(`engine listening on ${served.url} (store: ${instance.sql.kind})`);
  out(`JWKS for workers: ${served.url}/.well-known/jwks.json`);
  out(`dashboard: ${served.url}/dashboard`);
  if (generated) out(`API token for this process: ${apiToken}  (set PUSHWORKER_API_TOKEN to choose one)`);
  const stopped = await Promise.race([
    failure,
    new Promise<string>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    }),
  ]);
  if (stopped instanceof Error) {
    // Nothing can be served without the store: exit so that a supervisor starts the engine again.
    console.error(`pushworker engine: ${stopped.message}; exiting`);
    await served.close().catch(() => {});
    return 1;
  }
  out(`received ${stopped}; stopping the engine`);
  await served.close();
  return 0;
});
