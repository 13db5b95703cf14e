// The graphile-worker peer's process: a runner with one no-op task, started with the settings it is sent.
import { Logger, type Runner, run, runMigrations } from 'graphile-worker';
import pg from 'pg';
import { PEER_TASK, servePeer } from './peer-process.ts';

const connectionString = process.env.BENCH_DATABASE_URL!;
const schema = process.env.BENCH_SCHEMA!;
const logger = new Logger(() => (level, message) => {
  if (level === 'error') console.error(`graphile-worker: ${message}`);
});
let runner: Runner | undefined;
let pool: pg.Pool | undefined;

await servePeer({
  prepare: () => runMigrations({ connectionString, schema, logger }),
  async start(settings, started) {
    // Connected before the runner starts, so that a drain times the work and not the connections.
    pool = new pg.Pool({ connectionString, max: Number(settings.maxPoolSize ?? 10) });
    const failed = (error: Error) => console.error('graphile-worker pool:', error.message);
    pool.on('error', failed).on('connect', (client) => client.on('error', failed));
    await Promise.all(Array.from({ length: pool.options.max }, () => pool!.query('SELECT 1')));
    runner = await run({
      pgPool: pool,
      noHandleSignals: true,
      logger,
      taskList: {
        [PEER_TASK]: async (payload) => {
          started((payload as { job: number }).job);
        },
      },
      preset: { worker: { ...settings, schema } },
    });
  },
  async stop() {
    await runner?.stop();
    await pool?.end();
    runner = pool = undefined;
  },
  async close() {},
});
