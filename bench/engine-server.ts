// Benchmark server process: the engine (embedded store on disk, or Postgres) or the bare Hono baseline route.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createEngine, serveEngine } from '../src/engine/index.ts';
import { openStore, type Sql } from '../src/engine/store/index.ts';
import { tuneForEmbeddedStore } from '../src/engine/store/pglite.ts';

const stats = new Map<string, { n: number; ms: number }>();
function note(text: string, ms: number) {
  const key = text.replace(/\s+/g, ' ').slice(0, 110);
  const s = stats.get(key) ?? { n: 0, ms: 0 };
  s.n++;
  s.ms += ms;
  stats.set(key, s);
}
function timed(sql: Sql): Sql {
  const wrap = <C extends Pick<Sql, 'query'>>(c: C): C => ({
    ...c,
    async query(text: string, params?: unknown[]) {
      const t = performance.now();
      try {
        return await c.query(text, params);
      } finally {
        note(text, performance.now() - t);
      }
    },
  });
  return {
    ...wrap(sql),
    kind: sql.kind,
    exec: (t) => sql.exec(t),
    close: () => sql.close(),
    ...(sql.listen ? { listen: sql.listen.bind(sql) } : {}),
    transaction: async (fn) => {
      const t = performance.now();
      try {
        return await sql.transaction((tx) => fn(wrap(tx)));
      } finally {
        note('(transaction)', performance.now() - t);
      }
    },
  } as Sql;
}
function printStats() {
  const rows = [...stats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
  for (const [text, s] of rows)
    console.error(
      `${s.ms.toFixed(0).padStart(8)} ms ${String(s.n).padStart(7)}x ${(s.ms / s.n).toFixed(2).padStart(7)} ${text}`,
    );
}

const mode = process.argv[2];
const port = Number(process.env.BENCH_PORT ?? 0);
let close: () => Promise<void> = async () => {};

if (mode === 'bare') {
  const app = new Hono().post('/', async (c) => c.json({ ok: true, echo: await c.req.json() }));
  const url = await new Promise<string>((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) =>
      resolve(`http://127.0.0.1:${info.port}`),
    );
    close = () => new Promise((r) => server.close(() => r()));
  });
  process.send?.({ url });
} else {
  // As the engine command runs it.
  if (!process.env.BENCH_DATABASE_URL) tuneForEmbeddedStore();
  const options = {
    apiTokens: [process.env.BENCH_API_TOKEN!],
    allowPrivateTargets: true,
    databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
    dataDir: process.env.BENCH_DATA_DIR || undefined,
    onError: (error: unknown) => console.error('engine:', error),
    // BENCH_ANSWER_WITHIN_MS: the engine's answerWithinMs (0 has every event posted), for a baseline.
    ...(process.env.BENCH_ANSWER_WITHIN_MS
      ? { answerWithinMs: Number(process.env.BENCH_ANSWER_WITHIN_MS) }
      : {}),
  };
  // BENCH_SQL_STATS: time every statement (queueing included) and print the totals on exit.
  const sql = process.env.BENCH_SQL_STATS ? timed(await openStore(options)) : undefined;
  const engine = await createEngine({ ...options, ...(sql ? { sql } : {}) });
  const served = await serveEngine(engine, { port });
  const { token } = await engine.createToken('worker', 'bench');
  close = async () => {
    await served.close();
    if (sql) {
      await sql.close();
      printStats();
    }
  };
  process.send?.({ url: served.url, workerToken: token });
}

// Exit on request rather than on a signal, so that a CPU profile (BENCH_PROFILE) is written.
process.on('message', async (m) => {
  if (m !== 'exit') return;
  await close().catch(() => {});
  process.exit(0);
});
