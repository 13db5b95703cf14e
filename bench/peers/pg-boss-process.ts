// The pg-boss peer's process: `workers` polling workers of one no-op queue, started with the settings it is sent.
import PgBoss from 'pg-boss';
import { PEER_TASK as QUEUE, servePeer } from './peer-process.ts';

const boss = new PgBoss({
  connectionString: process.env.BENCH_DATABASE_URL!,
  schema: process.env.BENCH_SCHEMA!,
  application_name: process.env.BENCH_APPLICATION_NAME!,
});
boss.on('error', (error) => console.error('pg-boss:', error));

await servePeer({
  async prepare() {
    await boss.start();
    await boss.createQueue(QUEUE);
  },
  async start({ workers, ...options }, started) {
    for (let i = 0; i < Number(workers); i++)
      await boss.work<{ job: number }>(QUEUE, options, async (jobs) => {
        for (const job of jobs) started(job.data.job);
      });
  },
  stop: () => boss.offWork(QUEUE),
  close: () => boss.stop({ graceful: false }),
});
