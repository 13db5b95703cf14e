// A store client that also records the plan of every statement it runs (EXPLAIN, with the same parameters).
import type { Row, Sql, SqlClient } from '../../src/engine/store/sql.ts';

export interface Explained {
  text: string;
  plan: string;
}

/** `sql`, recording into `plans` the plan of each statement before running it. */
export function explaining(sql: SqlClient, plans: Explained[]): SqlClient {
  return {
    async query<T extends Row = Row>(text: string, params?: unknown[]): Promise<T[]> {
      const rows = await sql.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, params);
      plans.push({ text, plan: rows.map((r) => r['QUERY PLAN']).join('\n') });
      return sql.query<T>(text, params);
    },
  };
}

/** Whether a plan reads the whole of the table `table` (a sequential scan of it). */
export function scansWhole(plan: string, table: string): boolean {
  return new RegExp(`Seq Scan on ${table}\\b`).test(plan);
}

/** The same for a whole store: its transactions' statements are recorded too. */
export function explainingStore(sql: Sql, plans: Explained[]): Sql {
  return {
    ...explaining(sql, plans),
    transaction: (fn) => sql.transaction((tx) => fn(explaining(tx, plans))),
    exec: (text) => sql.exec(text),
    close: () => sql.close(),
    serial: sql.serial,
    kind: sql.kind,
  };
}
