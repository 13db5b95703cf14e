// The plans, buffers and writes of the store's hot statements on an empty store and on one grown to many finished
// runs. A bench-like cycle (bench/store-plans/cycle.ts: enqueue, claim, start, complete, the sweeper's and the
// dispatcher's reads) runs on each: warm-up cycles, then measured cycles as the engine runs them (the server's
// cumulative I/O and WAL statistics across them, where it has them, and with PLANS_TIMING each statement's time),
// then a last cycle whose every statement also runs under EXPLAIN (ANALYZE, BUFFERS, WAL), rolled back: its
// buffers, the blocks it dirtied and wrote out, its WAL, the indexes its plan read. Buffer and WAL counts do not
// depend on how busy the machine is, as times do. Then each index of pw_runs: its size and its scans.
//
//   PLANS_GROWN=1000000 npx tsx bench/store-plans.ts
// Postgres too when PUSHWORKER_TEST_DATABASE_URL is set. Settings, in the environment:
//   PLANS_ONLY=embedded|postgres   one of the two
//   PLANS_DIR=/path                where the embedded store's grown data is kept between runs (seeded when absent)
//   PLANS_BACKLOG=n                n runs queued due now through the measurement (each claim takes the oldest
//                                  batch): a hundred before the statistics are taken, the rest after (a burst
//                                  they have not seen, as between two autovacuums)
//   PLANS_TIMING=1                 each statement timed as the engine runs it (no EXPLAIN: its per-node timing
//                                  costs more than some statements), median of 5 cycles; EXPLAIN then times no node
//   PLANS_SETTINGS='a=1;b=2'       postgresql.conf settings for the embedded store, after its own
//   PLANS_VERBOSE=1                the plan of each statement that reads much more when grown
import type { Sql } from '../src/engine/store/index.ts';
import { BATCH, benchWorker, cycle, queueBacklog, TASK, WORKER } from './store-plans/cycle.ts';
import type { Explained } from './store-plans/explain.ts';
import { indexReport, indexScans } from './store-plans/indexes.ts';
import { type Io, ioLine, ioPer, ioReader } from './store-plans/io.ts';
import { type Mode, measuring } from './store-plans/measuring.ts';
import { embedded, postgres, type Target, upkeep } from './store-plans/targets.ts';

const GROWN = Number(process.env.PLANS_GROWN ?? 1_000_000);
const BACKLOG = Number(process.env.PLANS_BACKLOG ?? 0);
/** Of the backlog, the runs queued when the statistics are taken. */
const STEADY = 100;
const TIMING = Boolean(process.env.PLANS_TIMING);
const SETTINGS = (process.env.PLANS_SETTINGS ?? '')
  .split(';')
  .map((s) => s.trim())
  .filter(Boolean);
const WARM_UP = 4;
const MEASURED = TIMING ? 5 : 1;

interface Measurement {
  explained: Explained[];
  /** Per measured cycle, from the server's statistics. */
  io: Io;
  /** Each statement's median time over the measured cycles, and the cycle's. */
  timed: { label: string; ms: number }[];
  cycleMs: number;
  indexes: string[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measureOn(open: () => Promise<Sql>): Promise<Measurement> {
  const store = await open();
  try {
    const workerId = await benchWorker(store);
    const seen = Math.min(BACKLOG, STEADY);
    await queueBacklog(store, seen);
    await upkeep(store);
    await queueBacklog(store, BACKLOG - seen);
    let mode: Mode = { kind: 'plain' };
    const sql = measuring(store, () => mode);
    const before = await indexScans(store);
    for (let c = 0; c < WARM_UP; c++) await cycle(sql, workerId);

    const readIo = await ioReader(store);
    const ioBefore = await readIo();
    const perCycle: { label: string; ms: number }[][] = [];
    const cycleMs: number[] = [];
    for (let c = 0; c < MEASURED; c++) {
      const into: { label: string; ms: number }[] = [];
      mode = { kind: 'timed', into };
      const start = performance.now();
      await cycle(sql, workerId);
      cycleMs.push(performance.now() - start);
      perCycle.push(into);
    }
    mode = { kind: 'plain' };
    const io = ioPer(ioBefore, await readIo(), MEASURED);
    const timed = perCycle[0]!.map(({ label }, i) => {
      const times = perCycle.map((statements) => {
        if (statements[i]?.label !== label) throw new Error(`cycles differ at statement ${i}: ${label}`);
        return statements[i]!.ms;
      });
      return { label, ms: median(times) };
    });

    const explained: Explained[] = [];
    mode = { kind: 'explained', into: explained, timing: !TIMING };
    await cycle(sql, workerId);
    mode = { kind: 'plain' };
    const indexes = await indexReport(store, before);
    if (store.kind !== 'pglite') {
      await store.query(`DELETE FROM pw_runs WHERE task = $1`, [TASK]);
      await store.query(`DELETE FROM pw_workers WHERE name = $1`, [WORKER]);
    }
    return { explained, io, timed, cycleMs: median(cycleMs), indexes };
  } finally {
    await store.close();
  }
}

const figures = () => ({ buffers: 0, dirtied: 0, written: 0, walRecords: 0, walBytes: 0 });
function add(sum: ReturnType<typeof figures>, x: Explained): void {
  sum.buffers += x.hit + x.read;
  sum.dirtied += x.dirtied;
  sum.written += x.written;
  sum.walRecords += x.walRecords;
  sum.walBytes += x.walBytes;
}

const arrow = (a: number, b: number, width = 7) =>
  `${String(a).padStart(width)} -> ${String(b).padStart(width)}`;

function report(name: string, empty: Measurement, grown: Measurement): void {
  const backlog = BACKLOG ? `, ${BACKLOG} runs queued, ${Math.min(BACKLOG, STEADY)} of them analyzed` : '';
  console.log(
    `\n${name}: per statement, empty -> grown (${GROWN} finished runs${backlog}), ${BATCH}-run batches`,
  );
  console.log('  buffers (hit+read); dirtied, written out; WAL records, bytes; the indexes read');
  const sums = { empty: figures(), grown: figures() };
  for (const [i, e] of empty.explained.entries()) {
    const g = grown.explained[i];
    if (!g || g.label !== e.label) throw new Error(`statements differ at ${i}: ${e.label} / ${g?.label}`);
    add(sums.empty, e);
    add(sums.grown, g);
    const [eb, gb] = [e.hit + e.read, g.hit + g.read];
    const flag = gb > 1.2 * eb + 10 ? ' <<' : '';
    const ms = TIMING ? '' : ` (${e.ms.toFixed(1)} -> ${g.ms.toFixed(1)} ms under EXPLAIN)`;
    console.log(`  ${arrow(eb, gb)} (read ${g.read})${ms}${flag}  ${e.label}`);
    console.log(
      `      dirtied ${e.dirtied} -> ${g.dirtied}, written ${e.written} -> ${g.written}; ` +
        `WAL ${e.walRecords} -> ${g.walRecords} records, ${e.walBytes} -> ${g.walBytes} bytes`,
    );
    console.log(`      empty: ${e.indexes.join(', ')}\n      grown: ${g.indexes.join(', ')}`);
    if (process.env.PLANS_VERBOSE && flag) console.log(`      ${g.plan}`);
  }
  const [a, b] = [sums.empty, sums.grown];
  console.log(
    `  total: buffers ${a.buffers} -> ${b.buffers}, dirtied ${a.dirtied} -> ${b.dirtied}, written ` +
      `${a.written} -> ${b.written}, WAL ${a.walRecords} -> ${b.walRecords} records, ${a.walBytes} -> ${b.walBytes} bytes`,
  );
  console.log(
    `  per cycle, the server's statistics (the whole server's, triggers and background writes included):`,
  );
  console.log(`    empty: ${ioLine(empty.io)}\n    grown: ${ioLine(grown.io)}`);
  if (TIMING) {
    console.log(`  as the engine runs them, median of ${MEASURED} cycles, ms, empty -> grown:`);
    for (const [i, e] of empty.timed.entries()) {
      const g = grown.timed[i];
      if (!g || g.label !== e.label) throw new Error(`timed statements differ at ${i}: ${e.label}`);
      console.log(`  ${e.ms.toFixed(2).padStart(8)} -> ${g.ms.toFixed(2).padStart(8)}  ${e.label}`);
    }
    console.log(`  whole cycle ${empty.cycleMs.toFixed(1)} -> ${grown.cycleMs.toFixed(1)} ms`);
  }
  console.log('  indexes of pw_runs on the grown store (size, scans in the cycles):');
  console.log(grown.indexes.join('\n'));
}

async function main() {
  const targets: Target[] = [embedded(GROWN, SETTINGS, process.env.PLANS_DIR)];
  const url = process.env.PUSHWORKER_TEST_DATABASE_URL;
  if (url) targets.push(postgres(GROWN, url));
  const only = process.env.PLANS_ONLY;
  for (const target of targets) {
    if (only && !target.name.toLowerCase().includes(only)) continue;
    const empty = await measureOn(target.empty);
    const grown = await measureOn(target.grown);
    report(target.name, empty, grown);
  }
}

await main();
