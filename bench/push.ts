// Push benchmark: signed single-assignment pushes and 50-assignment batches against the Node adapter,
// with a bare Hono route and a jose-only floor route measured in the same run as baselines.
import { fork } from 'node:child_process';
import { Pool } from 'undici';
import { generateSigningKey, SIGNATURE_HEADER, signPush } from '../src/index.ts';

const CONCURRENCY = 64;
const SINGLE_REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const BATCH_REQUESTS = Math.ceil(SINGLE_REQUESTS / 10);
const BATCH = 50;

interface Prepared {
  path: string;
  body: string;
  signature: string;
}

async function main() {
  const key = await generateSigningKey('EdDSA', 'bench');
  const server = fork(new URL('./push-server.ts', import.meta.url), [], {
    env: { ...process.env, BENCH_JWKS: JSON.stringify({ keys: [key.publicJwk] }) },
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []),
    ],
  });
  // The server binds port 0 and sends back the port it took.
  const { port } = await new Promise<{ port: number }>((resolve, reject) => {
    server.once('message', (m) => resolve(m as { port: number }));
    server.once('exit', (code) => reject(new Error(`the push server exited with ${code}`)));
  });
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY });

  let seq = 0;
  const push = (n: number) =>
    JSON.stringify({
      v: 1,
      assignments: Array.from({ length: n }, () => ({
        runId: `r${++seq}`,
        attempt: 1,
        task: 'echo',
        input: { message: 'hello' },
      })),
    });
  const prepare = async (path: string, count: number, perRequest: number): Promise<Prepared[]> => {
    const out: Prepared[] = [];
    for (let i = 0; i < count; i++) {
      const body = push(perRequest);
      const signature = await signPush({
        key: key.signing,
        issuer: 'bench',
        audience: 'bench-worker',
        body,
        ttlS: 300,
      });
      out.push({ path, body, signature });
    }
    return out;
  };

  const send = async (p: Prepared) => {
    const res = await pool.request({
      path: p.path,
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: p.signature },
      body: p.body,
    });
    await res.body.dump();
    return res.statusCode;
  };

  const run = async (name: string, requests: Prepared[], perRequest: number) => {
    let next = 0;
    let bad = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < requests.length) {
          const status = await send(requests[next++]!);
          if (status >= 300) bad++;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const rps = requests.length / seconds;
    console.log(
      `${name.padEnd(22)} ${requests.length} requests in ${seconds.toFixed(2)} s: ${Math.round(rps)} req/s, ${Math.round(rps * perRequest)} assignments/s${bad ? ` (${bad} non-2xx!)` : ''}`,
    );
    if (bad) process.exitCode = 1;
    return { rps, aps: rps * perRequest };
  };

  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  console.log(`signing pushes ahead of time (unique jti each), ${rounds} rounds...`);
  const results: Record<string, { rps: number; aps: number }[]> = { bare: [], floor: [], one: [], fifty: [] };
  await run('warm-up', await prepare('/worker', 2_000, 1), 1);
  for (let round = 1; round <= rounds; round++) {
    const floorReqs = await prepare('/floor', SINGLE_REQUESTS, 1);
    const single = await prepare('/worker', SINGLE_REQUESTS, 1);
    const batches = await prepare('/worker', BATCH_REQUESTS, BATCH);
    const bareReqs = single.map((p) => ({ ...p, path: '/bare' }));
    console.log(`-- round ${round}`);
    results.bare!.push(await run('bare Hono route', bareReqs, 1));
    results.floor!.push(await run('floor (jose verify)', floorReqs, 1));
    results.one!.push(await run('worker, 1 per push', single, 1));
    results.fifty!.push(await run(`worker, ${BATCH} per push`, batches, BATCH));
  }
  // Ratios are taken within a round (same machine state), then the median across rounds is reported.
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const singleRatios = results.one!.map((r, i) => r.aps / results.floor![i]!.rps);
  const batchRatios = results.fifty!.map((r, i) => r.aps / results.bare![i]!.rps);
  const show = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
  console.log(
    `medians: bare ${Math.round(median(results.bare!.map((r) => r.rps)))} req/s, ` +
      `floor ${Math.round(median(results.floor!.map((r) => r.rps)))} req/s, ` +
      `worker single ${Math.round(median(results.one!.map((r) => r.aps)))} assignments/s, ` +
      `worker batch ${Math.round(median(results.fifty!.map((r) => r.aps)))} assignments/s`,
  );
  console.log(
    `single pushes: ${median(singleRatios).toFixed(2)}x the floor route (rounds: ${show(singleRatios)}; goal >= 0.7)`,
  );
  console.log(
    `batched pushes: ${median(batchRatios).toFixed(2)}x the bare route's requests/s in assignments/s ` +
      `(rounds: ${show(batchRatios)}; goal >= 2)`,
  );
  await pool.close();
  server.send('exit');
}

await main();
