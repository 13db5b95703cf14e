// pushworker in the peers benchmark: the engine on Postgres and the example worker (256 slots), each in its own
// process as in bench/engine.ts; processing stops by pausing the worker. Its tasks' start times are the started
// events' times, which the worker stamps (Date.now()) as it starts the task.
import {
  activeWorker,
  call,
  drained,
  eachRunPage,
  enqueueInBulk,
  freshStore,
  spawnWorker,
  startServer,
  stopChild,
} from '../load.ts';
import { dropSchemas, type System, withApplicationName } from './system.ts';

const TASK = 'echo';

export const pushworker: System = {
  name: 'pushworker',
  settings: {
    throughput: 'engine defaults, one worker of 256 slots',
    latency: 'the same (assignments are pushed: nothing polls)',
  },
  async open(databaseUrl, prefix) {
    const store = await freshStore(databaseUrl, prefix);
    const engine = await startServer('engine', {
      BENCH_DATABASE_URL: withApplicationName(store.env.BENCH_DATABASE_URL!, prefix),
    });
    const worker = spawnWorker(engine, 256, 'example');
    const workerId = await activeWorker(engine);
    const setPaused = async (paused: boolean) => {
      await call(engine, 'POST', `/v1/workers/${workerId}/${paused ? 'pause' : 'resume'}`);
    };
    await setPaused(true);
    /** The job number of each run enqueued alone since processing last stopped. */
    let jobs = new Map<string, number>();
    return {
      pids: [engine.child.pid!, worker.pid!],
      enqueueBulk: (_first, count) => enqueueInBulk(engine, TASK, count),
      async enqueue(job) {
        const { id } = await call<{ id: string }>(engine, 'POST', '/v1/runs', {
          task: TASK,
          input: { message: 'x' },
        });
        jobs.set(id, job);
      },
      startProcessing: () => setPaused(false),
      finished: () => drained(engine, TASK),
      async stopProcessing() {
        await setPaused(true);
        const starts = new Map<number, number>();
        if (jobs.size > 0)
          await eachRunPage(engine, TASK, (runs) => {
            for (const r of runs) {
              const job = jobs.get(r.id);
              if (job !== undefined && r.startedAt) starts.set(job, Date.parse(r.startedAt));
            }
            return starts.size < jobs.size;
          });
        jobs = new Map();
        return starts;
      },
      async close() {
        await stopChild(worker);
        await engine.stop();
        await dropSchemas(databaseUrl, [prefix]);
      },
    };
  },
};
