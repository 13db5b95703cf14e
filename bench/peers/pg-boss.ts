// pg-boss in the peers benchmark: polling workers in their own process (pg-boss-process.ts), fed through a
// pg-boss instance in the benchmark's process (`insert` in bulk, `send` alone) that runs no maintenance.
import PgBoss from 'pg-boss';
import { sleep } from '../load.ts';
import { forkPeer, PEER_TASK, type Settings } from './peer-process.ts';
import { dropSchemas, type Measure, type System } from './system.ts';

/**
 * pg-boss 10 has no LISTEN/NOTIFY: each `work()` call adds one worker that fetches up to `batchSize` jobs, runs
 * them, and waits out what is left of its polling interval before fetching again, whose minimum is 0.5 s
 * (`pollingIntervalSeconds`; 2 s by default). Both measures use that minimum, with four workers: large batches
 * for throughput, and for latency batches small enough that a fetch holds little back yet four workers still
 * take more than 500 jobs/s.
 */
const SETTINGS: Record<Measure, Settings> = {
  throughput: { workers: 4, batchSize: 500, pollingIntervalSeconds: 0.5 },
  latency: { workers: 4, batchSize: 100, pollingIntervalSeconds: 0.5 },
};

export const pgBoss: System = {
  name: 'pg-boss',
  settings: { throughput: JSON.stringify(SETTINGS.throughput), latency: JSON.stringify(SETTINGS.latency) },
  async open(databaseUrl, prefix) {
    await dropSchemas(databaseUrl, [prefix]);
    const peer = await forkPeer('pg-boss-process.ts', {
      BENCH_DATABASE_URL: databaseUrl,
      BENCH_SCHEMA: prefix,
      BENCH_APPLICATION_NAME: prefix,
    });
    const client = new PgBoss({
      connectionString: databaseUrl,
      schema: prefix,
      application_name: `${prefix}_client`,
      migrate: false,
      supervise: false,
      schedule: false,
    });
    client.on('error', (error) => console.error('pg-boss client:', error));
    await client.start();
    return {
      pids: [peer.child.pid!],
      async enqueueBulk(first, count) {
        for (let i = 0; i < count; i += 1000)
          await client.insert(
            Array.from({ length: Math.min(1000, count - i) }, (_, j) => ({
              name: PEER_TASK,
              data: { job: first + i + j },
            })),
          );
      },
      async enqueue(job) {
        await client.send(PEER_TASK, { job });
      },
      startProcessing: (measure) => peer.start(SETTINGS[measure]),
      async finished() {
        while ((await client.getQueueSize(PEER_TASK, { before: 'completed' })) > 0) await sleep(50);
      },
      stopProcessing: () => peer.stop(),
      async close() {
        await client.stop({ graceful: false });
        await peer.close();
        await dropSchemas(databaseUrl, [prefix]);
      },
    };
  },
};
