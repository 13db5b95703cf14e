// Freed-place benchmark: twelve 300 ms sleeps under one concurrency key of limit 2, from the first start to the
// last finish, on the embedded store with an engine and a worker on loopback. Baseline, in the same run: the same
// engine with its wake-ups silenced, so that every place freed waits for the 1 s poll (poll-bound dispatch).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { requestListener } from '../adapters/node.ts';
import { createClient } from '../src/client/index.ts';
import { createEngine, serveEngine } from '../src/engine/index.ts';
import { Signals } from '../src/engine/signals.ts';
import { createWorker, task } from '../src/index.ts';

const RUNS = 12;
const SLEEP_MS = 300;
const LIMIT = 2;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const API_TOKEN = 'bench-api-token-0123456789';

const nap = task({
  name: 'nap',
  input: z.unknown(),
  run: (_input, ctx) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, SLEEP_MS);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      });
    }),
});

/** Milliseconds from the first start to the last finish of the twelve runs, with the poll at `pollIntervalMs`. */
async function measure(pollIntervalMs: number): Promise<number> {
  const engine = await createEngine({ apiTokens: [API_TOKEN], allowPrivateTargets: true, pollIntervalMs });
  const served = await serveEngine(engine);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { token } = await engine.createToken('worker', 'bench');
  const worker = createWorker({
    name: 'bench',
    url,
    slots: 8,
    tasks: [nap],
    engineUrl: served.url,
    token,
    keys: { jwksUrl: `${served.url}/.well-known/jwks.json` },
  });
  server.on('request', requestListener(worker));
  worker.start();
  const client = createClient({ url: served.url, token: API_TOKEN });
  try {
    for (let i = 0; !(await client.listWorkers()).some((w) => w.state === 'ACTIVE'); i++) {
      if (i > 200) throw new Error('the worker did not register');
      await new Promise((r) => setTimeout(r, 25));
    }
    const runs = await client.enqueueMany(
      Array.from({ length: RUNS }, (_, i) => ({
        task: 'nap',
        input: i,
        concurrency: { key: 'k', limit: LIMIT },
      })),
    );
    const done = [];
    for (const r of runs) done.push(await client.waitRun(r.id, { timeoutMs: 60_000 }));
    if (done.some((r) => r.state !== 'COMPLETED')) throw new Error('a run did not complete');
    const first = Math.min(...done.map((r) => Date.parse(r.startedAt!)));
    const last = Math.max(...done.map((r) => Date.parse(r.finishedAt!)));
    return last - first;
  } finally {
    await worker.stop({ graceMs: 0 });
    await new Promise((r) => server.close(r));
    await served.close();
  }
}

/** Measures with every wake-up of the dispatcher silenced: it claims only when its poll comes round. */
async function pollBound(pollIntervalMs: number): Promise<number> {
  const wake = Object.getOwnPropertyDescriptor(Signals.prototype, 'wake')!;
  const onFreed = Object.getOwnPropertyDescriptor(Signals.prototype, 'freed')!;
  Signals.prototype.wake = () => {};
  Signals.prototype.freed = () => {};
  try {
    return await measure(pollIntervalMs);
  } finally {
    Object.defineProperty(Signals.prototype, 'wake', wake);
    Object.defineProperty(Signals.prototype, 'freed', onFreed);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const ideal = Math.ceil(RUNS / LIMIT) * SLEEP_MS;
  const baseline: number[] = [];
  const woken: number[] = [];
  const wokenSlowPoll: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    baseline.push(await pollBound(1_000));
    woken.push(await measure(1_000));
    wokenSlowPoll.push(await measure(60_000));
  }
  console.log(`${RUNS} sleeps of ${SLEEP_MS} ms, concurrency limit ${LIMIT}: first start to last finish`);
  console.log(`  (at best ${ideal} ms: ${Math.ceil(RUNS / LIMIT)} waves; median of ${ROUNDS} rounds)`);
  console.log(`  baseline, poll-bound at a 1 s poll:  ${median(baseline)} ms  [${baseline.join(', ')}]`);
  console.log(`  woken by freed places, 1 s poll:     ${median(woken)} ms  [${woken.join(', ')}]`);
  console.log(
    `  woken by freed places, 60 s poll:    ${median(wokenSlowPoll)} ms  [${wokenSlowPoll.join(', ')}]`,
  );
  console.log(`  ratio to baseline (1 s poll):        ${(median(woken) / median(baseline)).toFixed(2)}`);
}

await main();
