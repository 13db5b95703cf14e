// Published events on both stores: each publish enqueues a run of every listening task with the payload as input,
// once per event id however often it is published (also by two publishers at once), listed and read back with
// its runs, refused whole when a listener's key cannot be resolved, and deleted with the finished runs' retention.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { task } from '../../src/index.ts';
import { API_TOKEN, engineMetric, type Harness, harnessPerTest, until } from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

const DAY = 24 * 3600_000;
const order = z.object({ orderId: z.string(), tenant: z.string().optional() });
const ship = task({
  name: 'ship',
  input: order,
  on: ['order.created'],
  run: (o) => ({ shipped: o.orderId }),
});
const bill = task({
  name: 'bill',
  input: order,
  on: ['order.created', 'order.amended'],
  rateLimits: [{ key: 'tenant:{input.tenant}', limit: 100, per: 'second' }],
  run: (o) => ({ billed: o.orderId }),
});
const audit = task({ name: 'audit', input: z.unknown(), on: ['audit.logged'], run: () => 'ok' });

async function post(h: Harness, path: string, body: unknown, token = API_TOKEN) {
  const res = await fetch(`${h.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe.each(storeTargets('pw_published_events'))('published events on $name', ({ open }) => {
  const harness = harnessPerTest(open);
  let h: Harness;
  const start = async (options = {}) => {
    h = await harness.start(options);
    await h.addWorker('shop', { tasks: [ship, bill, audit] });
  };

  it('enqueues a run of each listening task with the payload as input, and the runs finish', async () => {
    await start();
    const published = await h.client.publish({
      name: 'order.created',
      payload: { orderId: 'o-1', tenant: 'acme' },
      key: 'o-1',
    });
    expect(published).toMatchObject({ name: 'order.created', key: 'o-1', created: true });
    expect(published.id).toMatch(/^evt_/);
    expect(published.runs.map((r) => r.task).sort()).toEqual(['bill', 'ship']);
    const outputs = await Promise.all(
      published.runs.map((r) => h.client.waitRun(r.id, { timeoutMs: 20_000 })),
    );
    expect(outputs.map((r) => [r.task, r.state, r.output]).sort()).toEqual([
      ['bill', 'COMPLETED', { billed: 'o-1' }],
      ['ship', 'COMPLETED', { shipped: 'o-1' }],
    ]);
    const read = await h.client.getEvent(published.id);
    expect(read.runs.map((r) => r.state)).toEqual(['COMPLETED', 'COMPLETED']);
    expect(await engineMetric(h, 'pushworker_events_published_total')).toBe(1);

    // An event nobody listens for is stored, with no run.
    const unheard = await h.client.publish({ name: 'nobody.listens', payload: 1 });
    expect(unheard.runs).toEqual([]);
  });

  it('publishes one id once: a second publish answers with the first and enqueues nothing', async () => {
    await start();
    const first = await post(h, '/v1/events/publish', {
      name: 'order.created',
      id: 'evt-1',
      payload: { orderId: 'a', tenant: 't' },
    });
    expect(first.status).toBe(201);
    const again = await post(h, '/v1/events/publish', {
      name: 'order.created',
      id: 'evt-1',
      payload: { orderId: 'changed', tenant: 't' },
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: 'evt-1', created: false, payload: { orderId: 'a', tenant: 't' } });
    expect(again.body.runs.map((r: { id: string }) => r.id)).toEqual(
      first.body.runs.map((r: { id: string }) => r.id),
    );

    // Two publishers of one id at once: one stores it, the other finds it; one run per listening task.
    const racing = await Promise.all(
      [1, 2, 3].map(() =>
        h.client.publish({ name: 'order.created', id: 'evt-2', payload: { orderId: 'b', tenant: 't' } }),
      ),
    );
    expect(racing.filter((p) => p.created)).toHaveLength(1);
    const runs = (await h.client.listRuns({ limit: 100 })).runs;
    expect(runs).toHaveLength(4);
    expect(new Set(racing.flatMap((p) => p.runs.map((r) => r.id))).size).toBe(2);
  });

  it('refuses the whole publish when a listener cannot resolve its key, naming the task; nothing is stored', async () => {
    await start();
    const refused = await post(h, '/v1/events/publish', {
      name: 'order.amended',
      id: 'evt-x',
      payload: { orderId: 'c' },
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('unresolved_key');
    expect(refused.body.error.message).toContain('a task listening for "order.amended"');
    expect((await post(h, '/v1/events/publish', { name: 'has space' })).body.error.code).toBe(
      'invalid_request',
    );
    const missing = await fetch(`${h.url}/v1/events/evt-x`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    expect(missing.status).toBe(404);
    expect((await h.client.listRuns({ limit: 10 })).runs).toEqual([]);
    expect((await h.client.listEvents()).events).toEqual([]);
  });

  it('lists events newest first, by name and key, a page at a time', async () => {
    await start();
    const published = await h.client.publishMany(
      Array.from({ length: 5 }, (_, i) => ({
        name: i % 2 ? 'audit.logged' : 'nobody.listens',
        key: i < 3 ? 'early' : 'late',
        id: `e${i}`,
        payload: i,
      })),
    );
    expect(published.map((p) => p.created)).toEqual([true, true, true, true, true]);
    const all = await h.client.listEvents();
    expect(all.events.map((e) => e.id)).toEqual(['e4', 'e3', 'e2', 'e1', 'e0']);
    const first = await h.client.listEvents({ limit: 2 });
    const second = await h.client.listEvents({ limit: 2, cursor: first.nextCursor! });
    const third = await h.client.listEvents({ limit: 2, cursor: second.nextCursor! });
    expect([first, second, third].map((p) => p.events.map((e) => e.id))).toEqual([
      ['e4', 'e3'],
      ['e2', 'e1'],
      ['e0'],
    ]);
    expect(third.nextCursor).toBeNull();
    expect((await h.client.listEvents({ name: 'audit.logged' })).events.map((e) => e.id)).toEqual([
      'e3',
      'e1',
    ]);
    expect(
      (await h.client.listEvents({ key: 'early', name: 'nobody.listens' })).events.map((e) => e.id),
    ).toEqual(['e2', 'e0']);
    const bad = await fetch(`${h.url}/v1/events?cursor=abc`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    expect(bad.status).toBe(400);
  });

  it('needs an API token of scope enqueue to publish, and read to list', async () => {
    await start();
    const reader = (await h.engine.createToken('api', undefined, 'read')).token;
    const refused = await post(h, '/v1/events/publish', { name: 'audit.logged' }, reader);
    expect(refused.status).toBe(403);
    const listed = await fetch(`${h.url}/v1/events`, { headers: { authorization: `Bearer ${reader}` } });
    expect(listed.status).toBe(200);
  });

  it('deletes events with the finished runs once the retention has passed', async () => {
    await start({ retentionMs: DAY });
    const published = await h.client.publish({ name: 'audit.logged', payload: 1 });
    await until(async () => (await h.client.getRun(published.runs[0]!.id)).state === 'COMPLETED', 'the run');
    await h.engine.sweep(Date.now() + DAY - 60_000);
    expect((await h.client.listEvents()).events).toHaveLength(1);
    await h.engine.sweep(Date.now() + DAY + 60_000);
    expect((await h.client.listEvents()).events).toEqual([]);
    expect(await engineMetric(h, 'pushworker_events_deleted_total')).toBe(1);
  });
});
