// A store whose statements are measured as they go: each one timed as the engine runs it, or each one also run
// once under EXPLAIN ANALYZE first, rolled back (in a transaction of its own, or a savepoint of the caller's).
import type { Sql, SqlClient } from '../../src/engine/store/index.ts';
import { type Explained, explain, labelOf } from './explain.ts';

export type Mode =
  | { kind: 'plain' }
  /** Each statement's wall time, driver and round trip included, as the engine sees it. */
  | { kind: 'timed'; into: { label: string; ms: number }[] }
  | { kind: 'explained'; into: Explained[]; timing: boolean };

const CONTROL = /^\s*(SAVEPOINT|ROLLBACK|RELEASE)/;

export function measuring(sql: Sql, mode: () => Mode): Sql {
  const timed = async <T>(text: string, run: () => Promise<T>): Promise<T> => {
    const m = mode();
    if (m.kind !== 'timed') return run();
    const start = performance.now();
    const result = await run();
    m.into.push({ label: labelOf(text), ms: performance.now() - start });
    return result;
  };
  const inTx = (tx: SqlClient): SqlClient => ({
    async query(text, params) {
      const m = mode();
      if (m.kind === 'explained' && !CONTROL.test(text)) {
        await tx.query('SAVEPOINT pw_plans');
        m.into.push(await explain(tx, text, params, m.timing));
        await tx.query('ROLLBACK TO SAVEPOINT pw_plans');
      }
      return timed(text, () => tx.query(text, params));
    },
  });
  return {
    ...sql,
    async query(text, params) {
      const m = mode();
      if (m.kind === 'explained')
        await sql
          .transaction(async (tx) => {
            m.into.push(await explain(tx, text, params, m.timing));
            throw new Error('rollback');
          })
          .catch((e) => {
            if ((e as Error).message !== 'rollback') throw e;
          });
      return timed(text, () => sql.query(text, params));
    },
    transaction: (fn) => sql.transaction((tx) => fn(inTx(tx))),
    exec: (text) => sql.exec(text),
    close: () => sql.close(),
    serial: sql.serial,
    kind: sql.kind,
  };
}
