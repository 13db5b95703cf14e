// The embedded store driver: PGlite in a data directory, or in memory.
import { PGlite } from '@electric-sql/pglite';
import type { Row, Sql, SqlClient } from './sql.ts';

/** Opens PGlite at `dataDir` (a directory path), or in memory when it is omitted. */
export async function openPglite(dataDir?: string): Promise<Sql> {
  const db = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
  return wrapPglite(db, true);
}

/** Wraps an existing PGlite instance; `owned` decides whether `close()` closes it. */
export function wrapPglite(db: PGlite, owned = false): Sql {
  const clientOf = (q: Pick<PGlite, 'query'>): SqlClient => ({
    async query<T extends Row>(text: string, params?: unknown[]) {
      return (await q.query<T>(text, params as unknown[])).rows;
    },
  });
  return {
    kind: 'pglite',
    ...clientOf(db),
    transaction: (fn) => db.transaction((tx) => fn(clientOf(tx))),
    async listen(channel, fn) {
      const unlisten = await db.listen(channel, fn);
      return () => unlisten();
    },
    async exec(text) {
      await db.exec(text);
    },
    async close() {
      if (owned && !db.closed) await db.close();
    },
  };
}
