// Two engine replicas on one Postgres schema fire each schedule tick once, driven at the same moment together.
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.ts';
import { createEngine, serveEngine } from '../../src/engine/index.ts';
import { tickKey } from '../../src/engine/schedule-firer.ts';
import { API_TOKEN, fast } from '../support/engine.ts';
import { freshSchemaUrl, postgresUrl } from './support/postgres.ts';

const pgUrl = postgresUrl();
const SCHEDULES = 30;

describe.skipIf(!pgUrl)('cron schedules on two engine replicas sharing one Postgres', () => {
  it('enqueues one run per tick when both replicas fire the same tick at once', async () => {
    const databaseUrl = await freshSchemaUrl(pgUrl!, 'pw_schedule_replicas');
    const engines = await Promise.all(
      [0, 1].map(() => createEngine({ ...fast, databaseUrl, onError: console.error })),
    );
    const served = await Promise.all(engines.map((e) => serveEngine(e)));
    try {
      const [a, b] = served.map((s) => createClient({ url: s.url, token: API_TOKEN }));
      for (let i = 0; i < SCHEDULES; i++) {
        // Created on either replica; monthly, so that only the ticks driven here fire.
        await (i % 2 ? a! : b!).createSchedule({ name: `s${i}`, task: 'report', cron: '0 0 1 * *' });
      }
      const listed = await a!.listSchedules();
      const tick = Date.parse(listed[0]!.nextTickAt!);
      expect(new Set(listed.map((s) => s.nextTickAt)).size).toBe(1);

      // Each replica fires the same moment several times over, all at once.
      const outcomes = await Promise.all(
        Array.from({ length: 6 }, (_, i) => engines[i % 2]!.fireSchedules(tick + i)),
      );
      expect(outcomes.reduce((n, o) => n + o.runs, 0)).toBe(SCHEDULES);
      expect(outcomes.reduce((n, o) => n + o.schedules, 0)).toBe(SCHEDULES);

      const runs = (await b!.listRuns({ task: 'report', limit: 500 })).runs;
      expect(runs.map((r) => r.idempotencyKey).sort()).toEqual(
        Array.from({ length: SCHEDULES }, (_, i) => tickKey(`s${i}`, tick)).sort(),
      );
      const after = await b!.listSchedules();
      expect(after.every((s) => s.lastTickAt === new Date(tick).toISOString())).toBe(true);
      expect(after.every((s) => Date.parse(s.nextTickAt!) > tick)).toBe(true);
    } finally {
      for (const s of served) await s.close();
    }
  });
});
