import { describe, expect, it } from 'vitest';
import { Signals } from '../../src/engine/signals.ts';
import { openStore } from '../../src/engine/store/index.ts';
import { until } from '../support/until.ts';
import { freshSchemaUrl, postgresUrl } from './support/postgres.ts';

const pgUrl = postgresUrl();

describe.skipIf(!pgUrl)('signals across replicas on one Postgres', () => {
  it('relays everything signalled in one tick, however long, to the other replica and not back', async () => {
    const databaseUrl = await freshSchemaUrl(pgUrl!, 'pw_signals');
    const [a, b] = await Promise.all([openStore({ databaseUrl }), openStore({ databaseUrl })]);
    const here = new Signals(a!);
    const there = new Signals(b!);
    await Promise.all([here.start(), there.start()]);
    try {
      const seen = {
        here: { wakes: 0 },
        there: { done: [] as string[], freed: [] as string[], wakes: 0 },
      };
      here.onWake(() => seen.here.wakes++);
      there.onWake(() => seen.there.wakes++);
      there.onFreed((ids) => seen.there.freed.push(...ids));
      const doneThere = new Set<string>();
      // Ids that take several NOTIFY payloads (each must stay under 8000 bytes).
      const ids = Array.from(
        { length: 400 },
        (_, i) => `run_${String(i).padStart(4, '0')}_${'x'.repeat(40)}`,
      );
      for (const id of ids) void there.waitDone(id, 10_000).then(() => doneThere.add(id));
      here.done(ids);
      here.freed(['worker-1']);
      here.wake();
      // From here on, only what comes over NOTIFY: the local listeners have been called already.
      const freedHere: string[] = [];
      here.onFreed((ids) => freedHere.push(...ids));
      await until(
        () => doneThere.size === ids.length && seen.there.wakes > 0 && seen.there.freed.length > 0,
        'relayed',
      );
      expect(seen.there.freed).toEqual(['worker-1']);
      expect(seen.there.wakes).toBe(1);
      // Its own notifications come back to the sender, which has acted on them already. They reach it before
      // anything the other replica sends afterwards, so once that is in, they have come and been ignored.
      there.freed(['from-there']);
      await until(() => freedHere.length > 0, 'a signal from the other replica');
      expect(freedHere).toEqual(['from-there']);
      expect(seen.here.wakes).toBe(1);
    } finally {
      await Promise.all([here.stop(), there.stop()]);
      await Promise.all([a!.close(), b!.close()]);
    }
  });

  it('sends the signals of several ticks in one statement', async () => {
    const databaseUrl = await freshSchemaUrl(pgUrl!, 'pw_signals');
    const [a, b] = await Promise.all([openStore({ databaseUrl }), openStore({ databaseUrl })]);
    const statements: string[] = [];
    const counted = Object.assign(Object.create(a!), {
      query: (text: string, params?: unknown[]) => {
        statements.push(text);
        return a!.query(text, params);
      },
    });
    const here = new Signals(counted);
    const there = new Signals(b!);
    await Promise.all([here.start(), there.start()]);
    try {
      const heard: string[] = [];
      there.onWake(() => heard.push('wake'));
      there.onFreed((ids) => heard.push(...ids));
      here.wake();
      await new Promise((r) => setImmediate(r));
      here.freed(['w1']);
      await new Promise((r) => setImmediate(r));
      here.freed(['w2']);
      await until(() => heard.length === 3, 'relayed');
      expect(heard.sort()).toEqual(['w1', 'w2', 'wake']);
      expect(statements.filter((t) => t.includes('pg_notify'))).toHaveLength(1);
    } finally {
      await Promise.all([here.stop(), there.stop()]);
      await Promise.all([a!.close(), b!.close()]);
    }
  });
});

describe.skipIf(!pgUrl)("the Postgres store's listener connection", () => {
  it('stops listening to a channel once its last handler goes, and listens again for a new one', async () => {
    const sql = await openStore({ databaseUrl: await freshSchemaUrl(pgUrl!, 'pw_signals') });
    const channel = `pw_test_${process.pid}_${Date.now()}`;
    const statement = (verb: string) => `${verb} "${channel}"`;
    // The listener's backend and the last statement it ran, found by that statement.
    const listenerOf = async (pid?: number) =>
      sql.query<{ pid: number; query: string }>(
        `SELECT pid, query FROM pg_stat_activity WHERE ${pid ? 'pid = $1' : 'query = $1'}`,
        [pid ?? statement('LISTEN')],
      );
    const heard: string[] = [];
    const notify = async (payload: string) => {
      await sql.query('SELECT pg_notify($1, $2)', [channel, payload]);
    };
    try {
      const offA = await sql.listen!(channel, (p) => heard.push(`a:${p}`));
      const offB = await sql.listen!(channel, (p) => heard.push(`b:${p}`));
      const [listener] = await listenerOf();
      expect(listener).toBeDefined();
      await notify('1');
      await until(() => heard.length === 2, 'both handlers to hear the first notification');
      expect(heard.sort()).toEqual(['a:1', 'b:1']);

      // One handler left: the channel stays listened.
      await offA();
      expect((await listenerOf(listener!.pid))[0]?.query).toBe(statement('LISTEN'));
      await notify('2');
      await until(() => heard.includes('b:2'), 'the handler left to hear the second notification');

      // The last one gone: the listener connection unlistens.
      await offB();
      expect((await listenerOf(listener!.pid))[0]?.query).toBe(statement('UNLISTEN'));
      await notify('3');

      // A new handler listens again, and hears what is sent from then on, and nothing before.
      const offC = await sql.listen!(channel, (p) => heard.push(`c:${p}`));
      expect((await listenerOf(listener!.pid))[0]?.query).toBe(statement('LISTEN'));
      await notify('4');
      await until(() => heard.includes('c:4'), 'the new handler to hear the fourth notification');
      expect(heard.sort()).toEqual(['a:1', 'b:1', 'b:2', 'c:4']);
      await offC();
      expect((await listenerOf(listener!.pid))[0]?.query).toBe(statement('UNLISTEN'));
    } finally {
      await sql.close();
    }
  });
});
