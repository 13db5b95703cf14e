// What the server's cumulative statistics count of blocks and WAL over some cycles, triggers and background
// writes included: pg_stat_io (Postgres 16 and later; PGlite has it) and pg_stat_wal (14 and later), each where
// the server has it. Both count the whole server: on a shared Postgres, other sessions' work is in them too.
import type { Sql } from '../../src/engine/store/index.ts';

export interface Io {
  /** pg_stat_io, relation blocks, every kind of backend: read, written out, added to files. */
  blocks?: { reads: number; writes: number; extends: number };
  wal?: { records: number; fpi: number; bytes: number };
}

const has = async (sql: Sql, what: 'regclass' | 'regproc', name: string) => {
  const [row] = await sql.query<{ ok: boolean }>(`SELECT to_${what}($1) IS NOT NULL AS ok`, [name]);
  return row!.ok;
};

/** A reader of the statistics as they are now, its own work's flushed first (a connection flushes when idle). */
export async function ioReader(sql: Sql): Promise<() => Promise<Io>> {
  const [io, wal, flush] = await Promise.all([
    has(sql, 'regclass', 'pg_catalog.pg_stat_io'),
    has(sql, 'regclass', 'pg_catalog.pg_stat_wal'),
    has(sql, 'regproc', 'pg_catalog.pg_stat_force_next_flush'),
  ]);
  return async () => {
    if (flush) await sql.query('SELECT pg_stat_force_next_flush()');
    else await new Promise((r) => setTimeout(r, 1100));
    await sql.query('SELECT pg_stat_clear_snapshot()');
    const out: Io = {};
    if (io) {
      const [r] = await sql.query<Record<'reads' | 'writes' | 'extends', number>>(
        `SELECT coalesce(sum(reads), 0)::float8 AS reads, coalesce(sum(writes), 0)::float8 AS writes,
           coalesce(sum(extends), 0)::float8 AS extends FROM pg_stat_io WHERE object = 'relation'`,
      );
      out.blocks = r!;
    }
    if (wal) {
      const [r] = await sql.query<Record<'records' | 'fpi' | 'bytes', number>>(
        `SELECT wal_records::float8 AS records, wal_fpi::float8 AS fpi, wal_bytes::float8 AS bytes FROM pg_stat_wal`,
      );
      out.wal = r!;
    }
    return out;
  };
}

/** What was counted from `a` to `b`, per one of `n` cycles. */
export function ioPer(a: Io, b: Io, n: number): Io {
  const per = <T extends Record<string, number>>(x: T | undefined, y: T | undefined) =>
    x && y
      ? (Object.fromEntries(Object.keys(x).map((k) => [k, Math.round((y[k]! - x[k]!) / n)])) as T)
      : undefined;
  const blocks = per(a.blocks, b.blocks);
  const wal = per(a.wal, b.wal);
  return { ...(blocks ? { blocks } : {}), ...(wal ? { wal } : {}) };
}

export function ioLine(io: Io): string {
  const parts: string[] = [];
  if (io.blocks)
    parts.push(
      `pg_stat_io blocks read ${io.blocks.reads}, written ${io.blocks.writes}, extended ${io.blocks.extends}`,
    );
  else parts.push('no pg_stat_io on this server');
  if (io.wal) parts.push(`WAL ${io.wal.records} records (${io.wal.fpi} full pages), ${io.wal.bytes} bytes`);
  return parts.join('; ');
}
