// A store from before cancels cascaded: its cancelled runs whose children are still live are flagged by the
// migration, so that the first sweep cancels those children; a cancelled run with no live child is left alone.
import { describe, expect, it } from 'vitest';
import { migrate, SCHEMA_VERSION } from '../../src/engine/store/migrations.ts';
import { insertRuns } from '../../src/engine/store/runs.ts';
import { storeTargets } from './support/postgres.ts';

describe.each(storeTargets('pw_child_cancel_backfill'))('the cascade backfill on $name', ({ openBare }) => {
  it('flags the cancelled runs that still have live children, and only those', async () => {
    const sql = await openBare();
    try {
      await migrate(sql, SCHEMA_VERSION - 1);
      const at = Date.now();
      await insertRuns(
        sql,
        [
          { id: 'parent-live', task: 't', input: null },
          { id: 'parent-done', task: 't', input: null },
          { id: 'running', task: 't', input: null },
          { id: 'child-queued', task: 't', input: null, parentRunId: 'parent-live' },
          { id: 'child-finished', task: 't', input: null, parentRunId: 'parent-done' },
          { id: 'child-of-running', task: 't', input: null, parentRunId: 'running' },
        ],
        at,
      );
      await sql.query(
        `UPDATE pw_runs SET state = 'CANCELLED', finished_at = $1 WHERE id IN ('parent-live', 'parent-done')`,
        [at],
      );
      await sql.query(
        `UPDATE pw_runs SET state = 'COMPLETED', finished_at = $1 WHERE id = 'child-finished'`,
        [at],
      );
      await sql.query(`UPDATE pw_runs SET state = 'RUNNING' WHERE id = 'running'`);
      await migrate(sql);
      const flagged = await sql.query<{ id: string }>(
        'SELECT id FROM pw_runs WHERE cancel_children ORDER BY id',
      );
      expect(flagged.map((r) => r.id)).toEqual(['parent-live']);
    } finally {
      await sql.close();
    }
  });
});
