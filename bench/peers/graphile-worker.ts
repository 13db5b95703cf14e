// graphile-worker in the peers benchmark: a runner in its own process (graphile-worker-process.ts), fed through
// WorkerUtils (`addJobs` in bulk, `addJob` alone) from the benchmark's process.
import { makeWorkerUtils } from 'graphile-worker';
import { sleep } from '../load.ts';
import { forkPeer, PEER_TASK, type Settings } from './peer-process.ts';
import { dropSchemas, type Measure, type System, withApplicationName } from './system.ts';

/**
 * Its performance page (worker.graphile.org/docs/performance) gives the throughput configuration: 24 concurrent
 * jobs, a pool of 25, a local queue of 500 and job completions batched. For latency, the same without the local
 * queue and the batching, which its option docs say trade latency for throughput. New jobs wake it by
 * LISTEN/NOTIFY (`pollInterval`, 2 s by default, is only the fallback), and prepared statements are on (default).
 */
const SETTINGS: Record<Measure, Settings> = {
  throughput: {
    concurrentJobs: 24,
    maxPoolSize: 25,
    localQueue: { size: 500 },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
  },
  latency: { concurrentJobs: 24, maxPoolSize: 25 },
};

export const graphileWorker: System = {
  name: 'graphile-worker',
  settings: { throughput: JSON.stringify(SETTINGS.throughput), latency: JSON.stringify(SETTINGS.latency) },
  async open(databaseUrl, prefix) {
    await dropSchemas(databaseUrl, [prefix]);
    const peer = await forkPeer('graphile-worker-process.ts', {
      BENCH_DATABASE_URL: withApplicationName(databaseUrl, prefix),
      BENCH_SCHEMA: prefix,
    });
    const utils = await makeWorkerUtils({
      connectionString: withApplicationName(databaseUrl, `${prefix}_client`),
      schema: prefix,
    });
    return {
      pids: [peer.child.pid!],
      async enqueueBulk(first, count) {
        for (let i = 0; i < count; i += 1000)
          await utils.addJobs(
            Array.from({ length: Math.min(1000, count - i) }, (_, j) => ({
              identifier: PEER_TASK,
              payload: { job: first + i + j },
            })),
          );
      },
      async enqueue(job) {
        await utils.addJob(PEER_TASK, { job });
      },
      startProcessing: (measure) => peer.start(SETTINGS[measure]),
      async finished() {
        // A job's row is deleted once it has completed.
        const left = () =>
          utils.withPgClient(async (c) => {
            const { rows } = await c.query(`SELECT count(*)::int AS n FROM ${prefix}._private_jobs`);
            return (rows[0] as { n: number }).n;
          });
        while ((await left()) > 0) await sleep(50);
      },
      stopProcessing: () => peer.stop(),
      async close() {
        await utils.release();
        await peer.close();
        await dropSchemas(databaseUrl, [prefix]);
      },
    };
  },
};
