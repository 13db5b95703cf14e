// A Postgres store for the soak: a fresh schema of its own on the given server, so runs never share tables.
import pg from 'pg';
import { freshSchemaUrl } from '../test/engine/support/postgres.ts';

export async function freshSchema(base: string | undefined): Promise<string | undefined> {
  return base ? freshSchemaUrl(base, `soak_${process.pid}_${Date.now().toString(36)}`) : undefined;
}

/** Drops the schema `freshSchema` made (kept when the soak failed, for a look). */
export async function dropSchema(url: string | undefined): Promise<void> {
  if (!url) return;
  const parsed = new URL(url);
  const schema = /search_path=(soak_\w+)/.exec(parsed.searchParams.get('options') ?? '')?.[1];
  if (!schema) return;
  parsed.searchParams.delete('options');
  const client = new pg.Client({ connectionString: parsed.toString() });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}
