// The server store driver: a `pg` pool, with one dedicated connection for LISTEN.
import pg from 'pg';
import { MAX_PREPARED_STATEMENTS, type Row, type Sql, type SqlClient } from './sql.ts';

// Plain numbers for int8 (counts, sums) and numeric: every value we store fits in a double.
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20 || oid === 1700) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

export interface PostgresOptions {
  connectionString: string;
  max?: number;
}

export async function openPostgres(options: PostgresOptions): Promise<Sql> {
  const pool = new pg.Pool({ connectionString: options.connectionString, max: options.max ?? 10, types });
  pool.on('error', () => {
    // An idle client lost its connection; the pool replaces it on the next checkout.
  });
  await pool.query('SELECT 1');
  let listener: pg.Client | undefined;
  const handlers = new Map<string, Set<(payload: string) => void>>();

  async function listenerClient(): Promise<pg.Client> {
    if (listener) return listener;
    const client = new pg.Client({ connectionString: options.connectionString, types });
    client.on('error', () => {});
    client.on('notification', (msg) => {
      for (const fn of handlers.get(msg.channel) ?? []) fn(msg.payload ?? '');
    });
    await client.connect();
    listener = client;
    return client;
  }

  // Named statements are parsed and planned once per connection instead of on every call.
  const names = new Map<string, string>();
  const nameOf = (text: string) => {
    let name = names.get(text);
    if (!name && names.size < MAX_PREPARED_STATEMENTS) {
      name = `pw_${names.size + 1}`;
      names.set(text, name);
    }
    return name;
  };
  const clientOf = (q: pg.Pool | pg.PoolClient): SqlClient => ({
    async query<T extends Row>(text: string, params?: unknown[]) {
      const name = nameOf(text);
      const values = (params ?? []) as unknown[];
      return (await (name ? q.query({ name, text, values }) : q.query(text, values))).rows as T[];
    },
  });

  return {
    kind: 'postgres',
    // A pool: other connections, and other replicas, commit while a statement runs.
    serial: false,
    ...clientOf(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(clientOf(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async listen(channel, fn) {
      const client = await listenerClient();
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
      set.add(fn);
      return async () => {
        set.delete(fn);
        // The last handler gone: stop listening, or the server goes on delivering the channel to this connection.
        // A handler added meanwhile made a new set, and listens again after this (one connection runs in order).
        if (set.size > 0 || handlers.get(channel) !== set) return;
        handlers.delete(channel);
        await client.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`).catch(() => {
          // The connection is gone (closed or lost), and what it listened to with it.
        });
      };
    },
    async exec(text) {
      await pool.query(text);
    },
    async close() {
      await listener?.end().catch(() => {});
      await pool.end();
    },
  };
}
