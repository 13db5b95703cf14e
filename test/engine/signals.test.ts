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
