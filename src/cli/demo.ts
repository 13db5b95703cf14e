// `npm start`: the embedded engine, the example worker, a demo batch, a few order workflow runs and a few durable
// onboarding runs, with progress and a summary.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnqueueRequest, RunView } from '../client/index.ts';
import { TERMINAL_RUN_STATES } from '../protocol/schemas.ts';
import { type Command, type CommandSpec, defineCommand, intOption } from './args.ts';
import {
  demoUsers,
  enqueueOnboarding,
  printOnboardingSummary,
  runOnboarding,
  unexpectedOnboarding,
} from './demo-onboarding.ts';
import {
  demoOrders,
  enqueueOrders,
  printOrdersSummary,
  unexpectedOrders,
  waitOrders,
} from './demo-orders.ts';
import { percentile, progressBar } from './format.ts';
import { startLocalStack } from './local-stack.ts';
import { exampleWorkerFile } from './worker-process.ts';

/** Order workflow runs beside the task runs: few, so that the demo takes as long as its batch. */
const DEMO_ORDERS = 8;
/** Durable onboarding runs: each waits at most its 2 s for verification, within the batch's time. */
const DEMO_USERS = 6;

const spec = {
  usage: 'pushworker demo [--once] [--runs N] [--port N] [--data-dir DIR]',
  summary:
    'Starts the embedded engine and the example worker, runs a demo batch, order workflows and durable onboarding ' +
    'runs, and shows what happened.',
  options: {
    once: { type: 'boolean' },
    runs: { type: 'string' },
    port: { type: 'string' },
    'data-dir': { type: 'string' },
  },
  help: [
    '--once           exit after the summary: 0 when every run ended as expected, 1 when one is lost or stuck',
    `                 (the ${DEMO_ORDERS} order workflow runs and ${DEMO_USERS} onboardUser runs included)`,
    '--runs N         how many runs (default 300)',
    '--port N         the engine port (default: a free one)',
    '--data-dir DIR   the embedded store (default: a new directory under the system temp dir)',
  ],
} satisfies CommandSpec;

/** Echo, sleep and fail runs; fail runs are retried (retryable) or fail at once (NonRetryableError). */
export function demoBatch(total: number): { request: EnqueueRequest; expect: 'COMPLETED' | 'FAILED' }[] {
  return Array.from({ length: total }, (_, i) => {
    if (i % 10 === 3) {
      const retryable = i % 20 === 3;
      return {
        request: {
          task: 'fail',
          input: { message: `demo failure ${i}`, retryable },
          retries: retryable ? 2 : 0,
        },
        expect: 'FAILED',
      };
    }
    if (i % 5 === 1)
      return { request: { task: 'sleep', input: { ms: 50 + ((i * 37) % 400) } }, expect: 'COMPLETED' };
    return { request: { task: 'echo', input: { message: `hello ${i}` } }, expect: 'COMPLETED' };
  });
}

export const demo: Command = defineCommand(spec, async ({ values }, out) => {
  const total = intOption(values.runs, 'runs') ?? 300;
  const workerLines: string[] = [];
  out('starting the embedded engine and the example worker...');
  const stack = await startLocalStack({
    port: intOption(values.port, 'port') ?? 0,
    engine: {
      dataDir: values['data-dir'] ?? mkdtempSync(join(tmpdir(), 'pushworker-demo-')),
      retryBaseMs: 200,
      retryMaxMs: 2_000,
    },
    workerFile: exampleWorkerFile(),
    workerName: 'example-worker',
    workerEnv: { PUSHWORKER_SLOTS: '50', PUSHWORKER_SHUTDOWN_GRACE_MS: '5000' },
    onWorkerLine: (line) => workerLines.push(line),
  });
  try {
    await stack.waitForWorker();
    out(
      `worker 'example-worker' registered; enqueueing ${total} runs (echo, sleep, fail), ` +
        `${DEMO_ORDERS} runs of the order workflow and ${DEMO_USERS} durable onboardUser runs`,
    );
    const batch = demoBatch(total);
    const orders = demoOrders(DEMO_ORDERS);
    const users = demoUsers(DEMO_USERS);
    const started = Date.now();
    // Before the batch, so that their sleeps and waits overlap it rather than follow it.
    const onboarding = runOnboarding(
      stack.client,
      users,
      await enqueueOnboarding(stack.client, users),
      started + WATCH_MS,
    );
    const runs: RunView[] = [];
    for (let i = 0; i < batch.length; i += 500) {
      runs.push(...(await stack.client.enqueueMany(batch.slice(i, i + 500).map((b) => b.request))));
    }
    const orderRuns = await enqueueOrders(stack.client, orders);
    const final = await watchProgress(stack.client, runs, out);
    const elapsedS = (Date.now() - started) / 1000;
    const finalOrders = await waitOrders(stack.client, orderRuns, started + WATCH_MS);
    const onboarded = await onboarding;
    const lost = [
      ...final.filter((r, i) => !TERMINAL_RUN_STATES.has(r.state) || r.state !== batch[i]!.expect),
      ...unexpectedOrders(orders, finalOrders),
      ...unexpectedOnboarding(users, onboarded),
    ];
    printSummary(final, elapsedS, out);
    printOrdersSummary(finalOrders, out);
    printOnboardingSummary(onboarded, out);
    out(`dashboard: ${stack.served.url}/dashboard#token=${stack.apiToken}`);
    if (lost.length > 0) {
      out(
        `${lost.length} runs did not end as expected: ${lost.slice(0, 5).map((r) => `${r.id}=${r.state}`)}`,
      );
      out(workerLines.slice(-20).join('\n'));
    }
    if (values.once) return lost.length === 0 ? 0 : 1;
    out('serving until Ctrl-C');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    return 0;
  } finally {
    await stack.stop();
  }
});

/** How long the demo waits for its runs to end before it reports the rest as not finished. */
const WATCH_MS = 120_000;

async function watchProgress(
  client: Awaited<ReturnType<typeof startLocalStack>>['client'],
  runs: RunView[],
  out: (line: string) => void,
): Promise<RunView[]> {
  const views = new Map(runs.map((r) => [r.id, r]));
  const tty = process.stdout.isTTY;
  const deadline = Date.now() + WATCH_MS;
  let lastPrinted = -1;
  for (;;) {
    const pending = [...views.values()].filter((r) => !TERMINAL_RUN_STATES.has(r.state));
    const done = views.size - pending.length;
    if (tty) process.stdout.write(`\r${progressBar(done, views.size)}`);
    else if (done !== lastPrinted && (done === views.size || done - lastPrinted >= views.size / 4)) {
      out(progressBar(done, views.size));
      lastPrinted = done;
    }
    if (pending.length === 0 || Date.now() > deadline) break;
    // Wait on one pending run, then refresh the rest in parallel.
    await client.waitRun(pending[0]!.id, { timeoutMs: 500 });
    const refreshed = await mapLimit(pending, 16, (r) => client.getRun(r.id));
    for (const r of refreshed) views.set(r.id, r);
  }
  if (tty) process.stdout.write('\n');
  return runs.map((r) => views.get(r.id)!);
}

function printSummary(runs: RunView[], elapsedS: number, out: (line: string) => void) {
  const count = (state: string) => runs.filter((r) => r.state === state).length;
  const retried = runs.filter((r) => r.attempt > 1).length;
  const dispatch = runs
    .filter((r) => r.startedAt && r.attempt === 1)
    .map((r) => Date.parse(r.startedAt!) - Date.parse(r.createdAt))
    .sort((a, b) => a - b);
  out(
    `summary: ${runs.length} runs: ${count('COMPLETED')} completed, ${count('FAILED')} failed, ` +
      `${retried} retried, ${runs.length - count('COMPLETED') - count('FAILED') - count('CANCELLED')} not finished`,
  );
  out(
    `throughput ${(runs.length / elapsedS).toFixed(1)} runs/s over ${elapsedS.toFixed(1)} s; ` +
      `dispatch (enqueue to start) p50 ${percentile(dispatch, 50)} ms, p99 ${percentile(dispatch, 99)} ms`,
  );
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}
