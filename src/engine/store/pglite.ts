// The embedded store driver: PGlite in a data directory, or in memory.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Row, Sql, SqlClient } from './sql.ts';

/**
 * Postgres settings for a small embedded queue. PGlite's defaults (128 MB of shared buffers) cost the engine
 * process that much resident memory; the queue's hot pages (index heads, recent rows) fit in far less, and
 * the rest stays in the operating system's file cache.
 */
const SETTINGS = [
  'shared_buffers = 16MB',
  'wal_buffers = 1MB',
  'temp_buffers = 4MB',
  'maintenance_work_mem = 16MB',
];

/** Opens PGlite at `dataDir` (a directory path), or in memory when it is omitted. */
export async function openPglite(dataDir?: string): Promise<Sql> {
  if (dataDir) await initializeApart(dataDir);
  const options = { postgresqlconf: SETTINGS.join('\n') } as Parameters<typeof PGlite.create>[1];
  const db = dataDir ? await PGlite.create(dataDir, options) : await PGlite.create(options);
  return wrapPglite(db, true);
}

/**
 * Creates a new data directory in a short-lived child process. Initialising a cluster (initdb) takes hundreds of
 * megabytes that PGlite never gives back to the operating system; in a child they are gone when it exits.
 */
async function initializeApart(dataDir: string): Promise<void> {
  if (existsSync(join(dataDir, 'PG_VERSION'))) return;
  const module = import.meta.resolve('@electric-sql/pglite');
  const script = `const { PGlite } = await import(${JSON.stringify(module)});
    const db = await PGlite.create(${JSON.stringify(dataDir)}); await db.close();`;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`initialising ${dataDir} failed: ${stderr.trim()}`)),
    );
  });
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
