// The Postgres server for store tests: read from the environment; required when running in CI.
import pg from 'pg';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { openStore, type Sql, truncateAll } from '../../../src/engine/store/index.ts';
import { openPglite } from '../../../src/engine/store/pglite.ts';
import { openPostgres } from '../../../src/engine/store/postgres.ts';

export function postgresUrl(): string | undefined {
  const url = process.env.PUSHWORKER_TEST_DATABASE_URL;
  if (!url && process.env.CI) {
    throw new Error(
      'PUSHWORKER_TEST_DATABASE_URL must be set in CI: the Postgres store suite may not be skipped',
    );
  }
  return url || undefined;
}

/** A connection string whose search_path is a freshly emptied schema, so test files do not share tables. */
export async function freshSchemaUrl(base: string, schema: string): Promise<string> {
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await client.end();
  }
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

export interface StoreTarget {
  name: string;
  /** A store migrated to the current schema. */
  open: () => Promise<Sql>;
  /** A store with no schema yet, to migrate by hand (a database from before some migration). */
  openBare: () => Promise<Sql>;
}

/** The stores a suite runs on: in-memory PGlite, and Postgres in a schema of its own when a server is given. */
export function storeTargets(schema: string): StoreTarget[] {
  const url = postgresUrl();
  return [
    { name: 'PGlite', open: () => openStore(), openBare: () => openPglite() },
    ...(url
      ? [
          {
            name: 'Postgres',
            open: async () => openStore({ databaseUrl: await freshSchemaUrl(url, schema) }),
            openBare: async () =>
              openPostgres({ connectionString: await freshSchemaUrl(url, `${schema}_bare`) }),
          },
        ]
      : []),
  ];
}

/** Opens one store for a suite's tests (given to `use`), empties it before each test, and closes it after all. */
export function storePerTest(open: () => Promise<Sql>, use: (sql: Sql) => void): void {
  let sql: Sql | undefined;
  beforeAll(async () => {
    sql = await open();
    use(sql);
  });
  afterAll(async () => {
    await sql?.close();
  });
  beforeEach(async () => {
    await truncateAll(sql!);
  });
}
