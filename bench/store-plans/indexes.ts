// Each index of pw_runs: its size, its predicate, and how often the cycles read it.
import type { Sql } from '../../src/engine/store/index.ts';

export async function indexScans(sql: Sql): Promise<Map<string, number>> {
  // The cumulative statistics are written at the end of a transaction at the soonest, and then at most once a second.
  await new Promise((r) => setTimeout(r, 1100));
  await sql.query('SELECT pg_stat_clear_snapshot()');
  const rows = await sql.query<{ name: string; scans: string }>(
    `SELECT indexrelname AS name, idx_scan::text AS scans FROM pg_stat_user_indexes WHERE relname = 'pw_runs' AND schemaname = current_schema()`,
  );
  return new Map(rows.map((r) => [r.name, Number(r.scans)]));
}

export async function indexReport(sql: Sql, before: Map<string, number>): Promise<string[]> {
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
