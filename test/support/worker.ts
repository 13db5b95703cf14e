// Starts a worker over a real loopback socket, wired to a sink and a pusher, for endpoint tests.
import { z } from 'zod';
import { type NodeWorkerServer, serve } from '../../adapters/node.ts';
import {
  createLogger,
  createWorker,
  NonRetryableError,
  task,
  type Worker,
  type WorkerOptions,
} from '../../src/index.ts';
import { createPusher, type Pusher } from './push.ts';
import { type Sink, startSink } from './sink.ts';

/** Tasks that record what ran, for asserting that nothing ran. */
export function probeTasks() {
  const probe = { ran: [] as string[], running: 0, maxRunning: 0, aborts: [] as string[] };
  const track = async <T>(id: string, fn: () => Promise<T>): Promise<T> => {
    probe.ran.push(id);
    probe.running++;
    probe.maxRunning = Math.max(probe.maxRunning, probe.running);
    try {
      return await fn();
    } finally {
      probe.running--;
    }
  };
  const wait = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        probe.aborts.push((signal.reason as Error).name);
        reject(signal.reason);
      });
    });
  const tasks = [
    task({
      name: 'echo',
      input: z.object({ message: z.string() }),
      run: (i, c) => track(c.runId, async () => i),
    }),
    task({
      name: 'sleep',
      input: z.object({ ms: z.number() }),
      run: (i, c) => track(c.runId, () => wait(i.ms, c.signal).then(() => ({ slept: i.ms }))),
    }),
    task({
      name: 'fail',
      input: z.object({ retryable: z.boolean() }),
      run: (i, c) =>
        track(c.runId, async () => {
          throw i.retryable ? new Error('boom') : new NonRetryableError('bad input for good');
        }),
    }),
    task({
      name: 'heavy',
      input: z.object({ ms: z.number() }),
      slotCost: 3,
      run: (i, c) => track(c.runId, () => wait(i.ms, c.signal)),
    }),
    task({
      name: 'release',
      input: z.object({ ms: z.number() }),
      run: (i, c) =>
        track(c.runId, async () => {
          c.releaseSlot();
          await wait(i.ms, c.signal);
          return 'done';
        }),
    }),
    task({
      name: 'refresh',
      input: z.object({ ms: z.number() }),
      timeoutMs: 150,
      run: (i, c) =>
        track(c.runId, async () => {
          c.refreshTimeout(1_000);
          await wait(i.ms, c.signal);
          return 'done';
        }),
    }),
  ];
  return { probe, tasks };
}

export interface Harness {
  worker: Worker;
  server: NodeWorkerServer;
  sink: Sink;
  pusher: Pusher;
  probe: ReturnType<typeof probeTasks>['probe'];
  logs: string[];
  url: string;
  close(): Promise<void>;
}

export async function startHarness(
  options: Partial<WorkerOptions> & { start?: boolean } = {},
): Promise<Harness> {
  const sink = await startSink();
  const name = options.name ?? 'test-worker';
  const pusher = await createPusher(name);
  const { probe, tasks } = probeTasks();
  const logs: string[] = [];
  const worker = createWorker({
    name,
    tasks,
    keys: { jwks: pusher.jwks as never },
    engineUrl: sink.url,
    token: 'worker-token-secret',
    heartbeatMs: 50,
    logger: createLogger('debug', (line) => logs.push(line)),
    eventRetry: { baseMs: 10, maxMs: 50 },
    ...options,
  });
  const server = await serve(worker, {
    port: 0,
    hostname: '127.0.0.1',
    handleSignals: false,
    start: options.start ?? false,
  });
  return {
    worker,
    server,
    sink,
    pusher,
    probe,
    logs,
    url: server.url,
    async close() {
      await server.close();
      await sink.close();
    },
  };
}
