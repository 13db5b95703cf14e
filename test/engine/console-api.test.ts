// The routes behind the console's charts and filters, on both stores: `GET /v1/stats/series` counts the runs that
// completed and failed, the dispatch latency and the queue depth per task (sampled into the store by the sweeper,
// the depth now in the last bucket); `GET /v1/runs` filters by worker, metadata and enqueue time; bad input is
// `invalid_request`.

import { describe, expect, it } from 'vitest';
import { listQueueSamples, QUEUE_SAMPLE_MS } from '../../src/engine/store/queue-samples.ts';
import { NonRetryableError } from '../../src/index.ts';
import { API_TOKEN, echo, type Harness, harnessPerTest, job, until } from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

const broken = job('broken', () => {
  throw new NonRetryableError('never works');
});
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

async function statusAndCode(h: Harness, path: string): Promise<[number, string]> {
  const answer = await fetch(`${h.url}${path}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  const body = (await answer.json()) as { error?: { code: string } };
  return [answer.status, body.error?.code ?? 'ok'];
}

describe.each(storeTargets('pw_console_api'))('the console routes on $name', ({ open }) => {
  const harness = harnessPerTest(open);
  let h: Harness;

  it('charts the runs that completed and failed, their dispatch latency, and the queue depth per task', async () => {
    h = await harness.start();
    await h.addWorker('w', { tasks: [echo, broken] });
    const done = await h.client.enqueueMany(
      Array.from({ length: 5 }, (_, i) => ({ task: 'echo', input: i })),
    );
    const failed = await h.client.enqueueMany([{ task: 'broken' }, { task: 'broken' }]);
    for (const run of [...done, ...failed]) await h.client.waitRun(run.id, { timeoutMs: 15_000 });
    // Nobody serves this task: its runs wait in the queue.
    await h.client.enqueueMany(Array.from({ length: 3 }, () => ({ task: 'unserved' })));

    const series = await h.client.runSeries();
    expect(series.bucketMs).toBe(15_000);
    expect(Date.parse(series.to) - Date.parse(series.from)).toBe(15 * 60_000);
    for (const values of [series.completed, series.failed, series.dispatchLatencyMs.p50]) {
      expect(values).toHaveLength(60);
    }
    expect(sum(series.completed)).toBe(5);
    expect(sum(series.failed)).toBe(2);
    const p50 = series.dispatchLatencyMs.p50.filter((v) => v !== null);
    const p99 = series.dispatchLatencyMs.p99.filter((v) => v !== null);
    expect(p50.length).toBeGreaterThan(0);
    for (const [i, v] of p50.entries()) expect(p99[i]).toBeGreaterThanOrEqual(v);
    const unserved = series.queueDepth.find((q) => q.task === 'unserved');
    expect(unserved?.depth.at(-1)).toBe(3);

    // The sweeper samples the depth into the store, once per sample instant.
    const samples = () => listQueueSamples(h.engine.sql, 0, Date.now() + QUEUE_SAMPLE_MS);
    await until(async () => (await samples()).some((s) => s.depths.unserved === 3), 'a sample of the queue');
    expect((await samples()).every((s, i, all) => i === 0 || s.at - all[i - 1]!.at >= QUEUE_SAMPLE_MS)).toBe(
      true,
    );
    const hour = await h.client.runSeries({ minutes: 60 });
    expect(hour.bucketMs).toBe(60_000);
    expect(sum(hour.completed)).toBe(5);

    for (const minutes of ['4', '61', '1.5', 'soon', '']) {
      expect(await statusAndCode(h, `/v1/stats/series?minutes=${minutes}`)).toEqual([400, 'invalid_request']);
    }
    const reader = await h.client.createToken('api', undefined, 'read');
    const asReader = await fetch(`${h.url}/v1/stats/series`, {
      headers: { authorization: `Bearer ${reader.token}` },
    });
    expect(asReader.status).toBe(200);
  });

  it('lists the runs of a worker, of a metadata value and of an enqueue time range', async () => {
    h = await harness.start();
    const first = await h.addWorker('first', { tasks: [echo] });
    const eu = await h.client.enqueue({ task: 'echo', metadata: { region: 'eu', tier: 2 } });
    const us = await h.client.enqueue({ task: 'echo', metadata: { region: 'us' } });
    for (const run of [eu, us]) await h.client.waitRun(run.id, { timeoutMs: 15_000 });
    await first.close();
    const second = await h.addWorker('second', { tasks: [echo] });
    const between = new Date();
    await until(() => Date.now() > between.getTime(), 'the clock to move on');
    const later = await h.client.enqueue({ task: 'echo', metadata: { region: 'eu' } });
    await h.client.waitRun(later.id, { timeoutMs: 15_000 });
    const ids = async (options: Parameters<Harness['client']['listRuns']>[0]) =>
      (await h.client.listRuns(options)).runs.map((r) => r.id);

    expect(await ids({ worker: first.id! })).toEqual([us.id, eu.id]);
    expect(await ids({ worker: second.id! })).toEqual([later.id]);
    expect(await ids({ metadata: { key: 'region', value: 'eu' } })).toEqual([later.id, eu.id]);
    expect(await ids({ metadata: { key: 'tier', value: '2' } })).toEqual([eu.id]);
    expect(await ids({ metadata: { key: 'region', value: 'mars' } })).toEqual([]);
    expect(await ids({ createdAfter: between })).toEqual([later.id]);
    expect(await ids({ createdBefore: between })).toEqual([us.id, eu.id]);
    expect(
      await ids({
        createdBefore: between,
        metadata: { key: 'region', value: 'eu' },
        worker: first.id!,
        task: 'echo',
      }),
    ).toEqual([eu.id]);
    expect((await h.client.getRun(eu.id)).metadata).toEqual({ region: 'eu', tier: 2 });

    for (const query of [
      'metadata=region',
      'metadata==eu',
      'createdAfter=yesterday',
      'createdBefore=2026-01-01',
      'createdAfter=2026-02-01T00:00:00Z&createdBefore=2026-01-01T00:00:00Z',
    ]) {
      expect(await statusAndCode(h, `/v1/runs?${query}`), query).toEqual([400, 'invalid_request']);
    }
  });
});
