// Worker CPU per run: the worker process's CPU (process.cpuUsage: every thread, the thread pool's included) over
// BENCH_RUNS single-assignment pushes (signed EdDSA, or HS256 with BENCH_ALG=HS256), divided by the runs, with the
// push signature checked by node:crypto (what the Node adapter gives) and by jose with WebCrypto. Each way has a worker process of its own (bench/push-server.ts);
// they take turns within each round (A B, then B A), and their events go to a sink in this process, so that a
// worker's CPU is its own: the request, the signature, the run and its events (in the answer, as the engine's
// default `answerWithinMs` has them, or posted with BENCH_ANSWER_WITHIN_MS=0).
import { type ChildProcess, fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Pool } from 'undici';
import { verifyPushHeader } from '../src/auth/push.ts';
import {
  createKeySet,
  generateSigningKey,
  MemoryReplayStore,
  SIGNATURE_HEADER,
  type SigningKey,
  signingKeyFromSecret,
  signPush,
} from '../src/index.ts';
import { nodeSignatureVerifier } from '../src/node/verify.ts';
import { WORKER_CPU_GOAL_MS } from './goals.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 4_000);
/** EdDSA (what the engine signs with) or HS256 (a shared secret). */
const ALG = process.env.BENCH_ALG === 'HS256' ? 'HS256' : 'EdDSA';
const SECRET = 'a-shared-secret-of-some-length!!';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
/** What the pushes offer as `answerWithinMs`, as the engine does (10 by default); 0 has every event posted. */
const ANSWER_WITHIN_MS = Number(process.env.BENCH_ANSWER_WITHIN_MS ?? 10);

interface Worker {
  name: string;
  child: ChildProcess;
  pool: Pool;
  perRun: number[];
  /** The main thread's share: the event loop's CPU a run. */
  mainPerRun: number[];
  /** Pushes answered a second while sending them. */
  answersPerS: number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

async function main() {
  const key = await generateSigningKey('EdDSA', 'bench');
  const jwks = { keys: [key.publicJwk] };
  await headerCheckAlone(key.signing, jwks);
  const signing = ALG === 'HS256' ? signingKeyFromSecret(SECRET) : key.signing;

  let completed = 0;
  const sink = new Hono();
  sink.post('/v1/events', async (c) => {
    const { events } = (await c.req.json()) as { events: { type: string }[] };
    for (const e of events) if (e.type === 'completed') completed++;
    return c.json({ results: events.map(() => 'ok') });
  });
  const sinkServer = serve({ fetch: sink.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => sinkServer.once('listening', resolve));
  const eventsUrl = `http://127.0.0.1:${(sinkServer.address() as AddressInfo).port}`;

  const start = async (name: string, verifyWith: string): Promise<Worker> => {
    const child = fork(new URL('./push-server.ts', import.meta.url), [], {
      env: {
        ...process.env,
        BENCH_JWKS: JSON.stringify(jwks),
        BENCH_SECRET: SECRET,
        BENCH_EVENTS_URL: eventsUrl,
        BENCH_VERIFY: verifyWith,
      },
      execArgv: [
        '--import',
        'tsx',
        ...(process.env.BENCH_PROFILE
          ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}/${name}`]
          : []),
      ],
    });
    const { port } = await new Promise<{ port: number }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { port: number }));
      child.once('exit', (code) => reject(new Error(`the worker process exited with ${code}`)));
    });
    return {
      name,
      child,
      pool: new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY }),
      perRun: [],
      mainPerRun: [],
      answersPerS: [],
    };
  };
  const cpuOf = (w: Worker) =>
    new Promise<{ cpu: NodeJS.CpuUsage; mainThreadMs?: number }>((resolve) => {
      const onMessage = (m: unknown) => {
        const reply = m as { cpu?: NodeJS.CpuUsage; mainThreadMs?: number };
        if (!reply.cpu) return;
        w.child.off('message', onMessage);
        resolve(reply as { cpu: NodeJS.CpuUsage; mainThreadMs?: number });
      };
      w.child.on('message', onMessage);
      w.child.send('cpu');
    });

  let seq = 0;
  const prepare = async (count: number) => {
    const out: { body: string; signature: string }[] = [];
    for (let i = 0; i < count; i++) {
      const body = JSON.stringify({
        v: 1,
        ...(ANSWER_WITHIN_MS > 0 ? { answerWithinMs: ANSWER_WITHIN_MS } : {}),
        assignments: [{ runId: `r${++seq}`, attempt: 1, task: 'echo', input: { message: 'hello' } }],
      });
      const signature = await signPush({
        key: signing,
        issuer: 'bench',
        audience: 'bench-worker',
        body,
        ttlS: 300,
      });
      out.push({ body, signature });
    }
    return out;
  };
  /**
   * Sends the pushes and waits for every run's `completed` event: the worker's CPU a run and its event loop's, in
   * ms, and the pushes answered a second.
   */
  const measure = async (
    w: Worker,
    pushes: { body: string; signature: string }[],
  ): Promise<{ perRun: number; mainPerRun: number | undefined; answersPerS: number }> => {
    const target = completed + pushes.length;
    const before = await cpuOf(w);
    const started = performance.now();
    let next = 0;
    let bad = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < pushes.length) {
          const p = pushes[next++]!;
          const res = await w.pool.request({
            path: '/worker',
            method: 'POST',
            headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: p.signature },
            body: p.body,
          });
          if (res.statusCode >= 300) bad++;
          // A run that ended in time travels in the answer rather than to the sink.
          const answer = (await res.body.json()) as { events?: { type: string }[] };
          for (const e of answer.events ?? []) if (e.type === 'completed') completed++;
        }
      }),
    );
    const answersPerS = pushes.length / ((performance.now() - started) / 1000);
    const deadline = Date.now() + 30_000;
    while (completed < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const after = await cpuOf(w);
    if (bad || completed < target) {
      console.log(`${w.name}: ${bad} non-2xx answers, ${target - completed} runs not completed!`);
      process.exitCode = 1;
    }
    const mainPerRun =
      after.mainThreadMs !== undefined && before.mainThreadMs !== undefined
        ? (after.mainThreadMs - before.mainThreadMs) / pushes.length
        : undefined;
    return { perRun: (cpuMs(after.cpu) - cpuMs(before.cpu)) / pushes.length, mainPerRun, answersPerS };
  };

  const workers = [await start('node:crypto', 'node'), await start('jose', 'jose')];
  console.log(
    `worker CPU a run over ${RUNS} single ${ALG} pushes (${CONCURRENCY} at once, answerWithinMs ${ANSWER_WITHIN_MS}), ` +
      `${ROUNDS} rounds, the two ways in turn...`,
  );
  for (const w of workers) await measure(w, await prepare(1_000));
  const [nodeWay, joseWay] = workers as [Worker, Worker];
  const cpuRatios: number[] = [];
  const rateRatios: number[] = [];
  const describe = (w: Worker, at: (xs: number[]) => number | undefined) => {
    const main = at(w.mainPerRun);
    return (
      `${w.name} ${at(w.perRun)!.toFixed(3)} ms` +
      (main === undefined ? '' : ` (event loop ${main.toFixed(3)})`) +
      `, ${Math.round(at(w.answersPerS)!)} pushes/s`
    );
  };
  for (let round = 1; round <= ROUNDS; round++) {
    // A B, then B A: neither way is always the one measured first.
    const order = round % 2 ? workers : [...workers].reverse();
    for (const w of order) {
      const m = await measure(w, await prepare(RUNS));
      w.perRun.push(m.perRun);
      if (m.mainPerRun !== undefined) w.mainPerRun.push(m.mainPerRun);
      w.answersPerS.push(m.answersPerS);
    }
    cpuRatios.push(nodeWay.perRun.at(-1)! / joseWay.perRun.at(-1)!);
    rateRatios.push(nodeWay.answersPerS.at(-1)! / joseWay.answersPerS.at(-1)!);
    console.log(
      `-- round ${round}: ${workers.map((w) => describe(w, (xs) => xs.at(-1))).join('; ')}; ` +
        `node:crypto/jose ${cpuRatios.at(-1)!.toFixed(2)}x CPU, ${rateRatios.at(-1)!.toFixed(2)}x pushes/s`,
    );
  }
  const show = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
  console.log(`medians, a run: ${workers.map((w) => describe(w, median)).join('; ')}`);
  console.log(
    `node:crypto/jose: ${median(cpuRatios).toFixed(2)}x the CPU a run (rounds: ${show(cpuRatios)}), ` +
      `${median(rateRatios).toFixed(2)}x the pushes/s (rounds: ${show(rateRatios)}); goal <= ${WORKER_CPU_GOAL_MS} ms a run`,
  );

  for (const w of workers) {
    await w.pool.close();
    w.child.send('exit');
  }
  sinkServer.close();
}

/**
 * The push header's check alone (`verifyPushHeader`: key, signature, claims), in this process, either way: its
 * CPU a call, the thread pool's included, for EdDSA (what the engine signs with) and HS256 (a shared secret);
 * the median of three turns each.
 */
async function headerCheckAlone(key: SigningKey, jwks: { keys: object[] }) {
  const calls = 2_000;
  const keys = createKeySet({ jwks: jwks as never, secret: SECRET });
  const lines: string[] = [];
  for (const signing of [key, signingKeyFromSecret(SECRET)]) {
    const token = await signPush({ key: signing, issuer: 'bench', audience: 'bench-worker', body: '{}' });
    const ways = [
      { name: 'node:crypto', verifySignature: nodeSignatureVerifier, perCall: [] as number[] },
      { name: 'jose', verifySignature: undefined, perCall: [] as number[] },
    ];
    for (let round = 0; round < 3; round++) {
      for (const way of round % 2 ? [...ways].reverse() : ways) {
        const options = {
          keys,
          audience: 'bench-worker',
          replay: new MemoryReplayStore(),
          verifySignature: way.verifySignature,
        };
        for (let i = 0; i < 200; i++) await verifyPushHeader(token, options);
        const before = process.cpuUsage();
        for (let i = 0; i < calls; i++) await verifyPushHeader(token, options);
        way.perCall.push((cpuMs(process.cpuUsage(before)) * 1000) / calls);
      }
    }
    lines.push(
      `${signing.alg} ${ways.map((w) => `${w.name} ${median(w.perCall).toFixed(0)} µs`).join(', ')}`,
    );
  }
  console.log(`the push header's check alone, CPU a call: ${lines.join('; ')}`);
}

await main();
