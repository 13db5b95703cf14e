// The plans and buffer counts of the store's hot statements on an empty store and on one grown to many finished
// runs: a bench-like cycle (enqueue, claim, start, complete, the sweeper's and the dispatcher's reads) run on
// each, each statement of its last cycle also run under EXPLAIN (ANALYZE, BUFFERS) and rolled back. Buffer counts
// do not depend on how busy the machine is, as times do. Then each index of pw_runs: its size and its scans.
//   PLANS_GROWN=1000000 npx tsx bench/store-plans.ts   (PLANS_ONLY=embedded|postgres; PLANS_DIR keeps the grown data)
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { newRunId } from '../src/engine/ids.ts';
import { claimRuns } from '../src/engine/store/claims.ts';
import { nextDueAt } from '../src/engine/store/due.ts';
import { applyEventPosts } from '../src/engine/store/events.ts';
import { expireQueuedRuns } from '../src/engine/store/expiry.ts';
import { openStore, type Sql, type SqlClient } from '../src/engine/store/index.ts';
import { StoreUpkeep, UPKEEP_POLICY } from '../src/engine/store/maintenance.ts';
import { deleteExpiredRuns } from '../src/engine/store/retention.ts';
import { countLiveRunsByState, insertRuns, taskStats } from '../src/engine/store/runs.ts';
import { expireDeadlines, findLostRuns } from '../src/engine/store/transitions.ts';
import { upsertWorker } from '../src/engine/store/workers.ts';
import { seedFinishedRuns } from '../test/support/finished-runs.ts';

const GROWN = Number(process.env.PLANS_GROWN ?? 1_000_000);
const BATCH = 256;
const CYCLES = 6;
const retry = { baseMs: 10, maxMs: 100 };

interface Measured {
  label: string;
  hit: number;
  read: number;
  dirtied: number;
  ms: number;
  indexes: string[];
  plan: string;
}

/** Finds the first line of a statement that says what it is, for a label. */
function labelOf(text: string): string {
  return text.replace(/\s+/g, ' ').slice(0, 90);
}

function collect(node: Record<string, unknown>, into: Set<string>): void {
  if (typeof node['Index Name'] === 'string') into.add(node['Index Name'] as string);
  if (node['Node Type'] === 'Seq Scan') into.add(`SEQ ${node['Relation Name']}`);
  for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) collect(child, into);
}

/** `sql`, whose statements each also run once under EXPLAIN ANALYZE in a rolled-back savepoint when `on`. */
function measuring(sql: Sql, out: Measured[], on: () => boolean): Sql {
  const explain = async (tx: SqlClient, text: string, params?: unknown[]) => {
    const rows = await tx.query<{ 'QUERY PLAN': unknown }>(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`,
      params,
    );
    const raw = rows[0]!['QUERY PLAN'];
    const [doc] = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Record<string, unknown>[];
    const plan = doc!.Plan as Record<string, number>;
    const planning = (doc!.Planning ?? {}) as Record<string, number>;
    const indexes = new Set<string>();
    collect(plan as unknown as Record<string, unknown>, indexes);
    out.push({
      label: labelOf(text),
      hit: plan['Shared Hit Blocks']! + (planning['Shared Hit Blocks'] ?? 0),
      read: plan['Shared Read Blocks']! + (planning['Shared Read Blocks'] ?? 0),
      dirtied: plan['Shared Dirtied Blocks']!,
      ms: doc!['Execution Time'] as number,
      indexes: [...indexes],
      plan: JSON.stringify(plan),
    });
  };
  const inTx = (tx: SqlClient): SqlClient => ({
    async query(text, params) {
      if (on() && !/^\s*(SAVEPOINT|ROLLBACK|RELEASE)/.test(text)) {
        await tx.query('SAVEPOINT pw_plans');
        await explain(tx, text, params);
        await tx.query('ROLLBACK TO SAVEPOINT pw_plans');
      }
      return tx.query(text, params);
    },
  });
  return {
    ...sql,
    async query(text, params) {
      if (on())
        await sql
          .transaction(async (tx) => {
            await explain(tx, text, params);
            throw new Error('rollback');
          })
          .catch((e) => {
            if ((e as Error).message !== 'rollback') throw e;
          });
      return sql.query(text, params);
    },
    transaction: (fn) => sql.transaction((tx) => fn(inTx(tx))),
    exec: (text) => sql.exec(text),
    close: () => sql.close(),
    serial: sql.serial,
    kind: sql.kind,
  };
}

const task = { name: 'bench', inputSchema: {}, timeoutMs: 60_000, retries: 0, slotCost: 1 };

/** CYCLES cycles of enqueue, claim, start, complete and the sweeper's reads; the last one measured. */
async function cycles(store: Sql): Promise<Measured[]> {
  const out: Measured[] = [];
  let measure = false;
  const sql = measuring(store, out, () => measure);
  const worker = await upsertWorker(
    store,
    { name: 'plans-worker', url: 'http://127.0.0.1/plans', slots: BATCH, labels: {}, tasks: [task] },
    'registered',
    Date.now(),
  );
  for (let c = 0; c < CYCLES; c++) {
    measure = c === CYCLES - 1;
    const now = Date.now();
    await insertRuns(
      sql,
      Array.from({ length: BATCH }, (_, i) => ({
        id: newRunId(now),
        task: 'bench',
        input: { message: 'x', i },
      })),
      now,
    );
    await nextDueAt(sql, now);
    const { runs } = await claimRuns(sql, { workerId: worker.id, max: BATCH, now, leaseMs: 60_000 });
    const at = new Date(now).toISOString();
    const o = { now, leaseMs: 60_000, retry };
    for (const type of ['started', 'completed'] as const) {
      const events = runs.map((r) => ({
        runId: r.id,
        attempt: r.attempt,
        at,
        type,
        ...(type === 'completed' ? { output: { message: 'x' } } : {}),
      }));
      // As the engine's group commit does: many requests' posts in one batch.
      await applyEventPosts(sql, [{ workerName: 'plans-worker', events: events as never }], o);
    }
    await findLostRuns(sql, now);
    await expireDeadlines(sql, now, retry);
    await expireQueuedRuns(sql, now);
    await deleteExpiredRuns(sql, { before: now - 7 * 86_400_000, batchSize: 1000, maxStatements: 1 });
    await taskStats(sql, now);
    await countLiveRunsByState(sql);
  }
  return out;
}

async function indexScans(sql: Sql): Promise<Map<string, number>> {
  // The cumulative statistics are written at the end of a transaction at the soonest, and then at most once a second.
  await new Promise((r) => setTimeout(r, 1100));
  await sql.query('SELECT pg_stat_clear_snapshot()');
  const rows = await sql.query<{ name: string; scans: string }>(
    `SELECT indexrelname AS name, idx_scan::text AS scans FROM pg_stat_user_indexes WHERE relname = 'pw_runs' AND schemaname = current_schema()`,
  );
  return new Map(rows.map((r) => [r.name, Number(r.scans)]));
}

async function indexReport(sql: Sql, before: Map<string, number>): Promise<string[]> {
  const after = await indexScans(sql);
  const rows = await sql.query<{ name: string; size: string; pred: string }>(
    `SELECT s.indexrelname AS name, pg_size_pretty(pg_relation_size(s.indexrelid)) AS size,
       coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS pred
     FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
     WHERE s.relname = 'pw_runs' AND s.schemaname = current_schema() ORDER BY pg_relation_size(s.indexrelid) DESC`,
  );
  return rows.map(
    (r) =>
      `    ${r.name.padEnd(30)} ${r.size.padStart(8)} scans ${String((after.get(r.name) ?? 0) - (before.get(r.name) ?? 0)).padStart(6)}  ${r.pred}`,
  );
}

async function upkeep(sql: Sql): Promise<void> {
  const upkept = await new StoreUpkeep(sql, 0).afterSweep(UPKEEP_POLICY.maxIntervalMs, 0);
  if (!upkept) for (const table of ['pw_runs', 'pw_attempts']) await sql.exec(`VACUUM (ANALYZE) ${table}`);
}

interface Target {
  name: string;
  empty(): Promise<Sql>;
  grown(): Promise<Sql>;
}

function embedded(): Target {
  const base = process.env.PLANS_DIR ?? join(tmpdir(), `pushworker-plans-${GROWN}`);
  const copies: string[] = [];
  const fresh = () => {
    const dir = mkdtempSync(join(tmpdir(), 'pushworker-plans-'));
    copies.push(dir);
    return dir;
  };
  process.on('exit', () => {
    for (const dir of copies) rmSync(dir, { recursive: true, force: true });
  });
  return {
    name: 'embedded (PGlite on disk)',
    empty: async () => openStore({ dataDir: fresh() }),
    async grown() {
      if (!existsSync(join(base, 'PG_VERSION'))) {
        const sql = await openStore({ dataDir: base });
        await seedFinishedRuns(sql, GROWN, Date.now());
        await upkeep(sql);
        await sql.close();
      }
      // A copy, so that the seeded data is kept as it was seeded and this run's migrations and runs are not.
      const dir = fresh();
      cpSync(base, dir, { recursive: true });
      return openStore({ dataDir: dir });
    },
  };
}

function postgres(databaseUrl: string): Target {
  const inSchema = async (schema: string, drop: boolean) => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    if (drop) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.end();
    const url = new URL(databaseUrl);
    url.searchParams.set('options', `-c search_path=${schema}`);
    return openStore({ databaseUrl: url.toString() });
  };
  return {
    name: 'Postgres',
    empty: () => inSchema('pw_plans_empty', true),
    async grown() {
      // Seeded once and kept; each run's own runs are deleted again at its end (see main).
      const sql = await inSchema(`pw_plans_grown_${GROWN}`, false);
      const [row] = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM pw_runs`);
      if (row!.n < GROWN) {
        await sql.exec('TRUNCATE pw_runs, pw_attempts CASCADE');
        await seedFinishedRuns(sql, GROWN, Date.now());
      }
      await upkeep(sql);
      return sql;
    },
  };
}

async function measureOn(open: () => Promise<Sql>): Promise<{ measured: Measured[]; indexes: string[] }> {
  const sql = await open();
  try {
    await upkeep(sql);
    const before = await indexScans(sql);
    const measured = await cycles(sql);
    const indexes = await indexReport(sql, before);
    if (sql.kind !== 'pglite') {
      await sql.query(`DELETE FROM pw_runs WHERE task = 'bench'`);
      await sql.query(`DELETE FROM pw_workers WHERE name = 'plans-worker'`);
    }
    return { measured, indexes };
  } finally {
    await sql.close();
  }
}

async function main() {
  const targets: Target[] = [embedded()];
  const url = process.env.PUSHWORKER_TEST_DATABASE_URL;
  if (url) targets.push(postgres(url));
  const only = process.env.PLANS_ONLY;
  for (const target of targets) {
    if (only && !target.name.toLowerCase().includes(only)) continue;
    const empty = await measureOn(target.empty);
    const grown = await measureOn(target.grown);
    console.log(
      `\n${target.name}: buffers (hit+read) per statement, empty -> grown (${GROWN} finished runs)`,
    );
    let totalEmpty = 0;
    let totalGrown = 0;
    for (const [i, e] of empty.measured.entries()) {
      const g = grown.measured[i];
      if (!g || g.label !== e.label) throw new Error(`statements differ at ${i}: ${e.label} / ${g?.label}`);
      totalEmpty += e.hit + e.read;
      totalGrown += g.hit + g.read;
      const flag = g.hit + g.read > 1.2 * (e.hit + e.read) + 10 ? ' <<' : '';
      console.log(
        `  ${String(e.hit + e.read).padStart(7)} -> ${String(g.hit + g.read).padStart(7)} (read ${g.read}, ` +
          `${e.ms.toFixed(1)} -> ${g.ms.toFixed(1)} ms)${flag}  ${e.label}\n      empty: ${e.indexes.join(', ')}\n      grown: ${g.indexes.join(', ')}`,
      );
      if (process.env.PLANS_VERBOSE && flag) console.log(`      ${g.plan}`);
    }
    console.log(`  total ${totalEmpty} -> ${totalGrown}`);
    console.log('  indexes of pw_runs on the grown store (size, scans in the cycles):');
    console.log(grown.indexes.join('\n'));
  }
}

await main();
