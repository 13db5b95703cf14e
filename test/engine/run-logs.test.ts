// Task log lines on both stores: what a task logs through ctx.log at the worker's level and up travels with its
// events, is kept with the run in order (the first 200 lines of an attempt, then a count of the rest), is read
// back through the client, is refused for a stale attempt, and is deleted with the run by retention.
import { describe, expect, it } from 'vitest';
import type { TaskContext } from '../../src/index.ts';
import { type Harness, harnessPerTest, job, until } from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

const DAY = 24 * 3600_000;

const chatty = job('chatty', (_input, ctx: TaskContext) => {
  ctx.log.debug('debug before');
  ctx.log.info('first', { step: 1 });
  ctx.log.warn('second');
  ctx.log.debug('debug between');
  ctx.log.error('third', { nested: { ok: true } });
  return 'done';
});
const flood = job('flood', (_input, ctx: TaskContext) => {
  for (let i = 0; i < 1000; i++) ctx.log.info(`line ${i}`);
  return 'done';
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe.each(storeTargets('pw_run_logs'))('task log lines on $name', ({ open }) => {
  const harness = harnessPerTest(open);
  let h: Harness;
  const finished = async (task: string) => {
    const run = await h.client.enqueue({ task });
    expect((await h.client.waitRun(run.id, { timeoutMs: 20_000 })).state).toBe('COMPLETED');
    return run.id;
  };

  it('keeps the lines at info and up, in order, and logs every line locally as well', async () => {
    h = await harness.start();
    await h.addWorker('w', { tasks: [chatty] });
    const id = await finished('chatty');
    const logs = await h.client.getRunLogs(id);
    expect(logs.map(({ at: _, ...line }) => line)).toEqual([
      { attempt: 1, seq: 1, level: 'info', message: 'first', fields: { step: 1 } },
      { attempt: 1, seq: 2, level: 'warn', message: 'second' },
      { attempt: 1, seq: 3, level: 'error', message: 'third', fields: { nested: { ok: true } } },
    ]);
    for (const line of logs) expect(Number.isNaN(Date.parse(line.at))).toBe(false);
    expect(h.logs.filter((l) => l.includes(`runId=${id}`) && /debug (before|between)/.test(l))).toHaveLength(
      2,
    );
    expect(await codeOf(h.client.getRunLogs('no-such-run'))).toBe('not_found');
  });

  it('sends debug lines too at runLogLevel debug', async () => {
    h = await harness.start();
    await h.addWorker('w', { tasks: [chatty], runLogLevel: 'debug' });
    const id = await finished('chatty');
    expect((await h.client.getRunLogs(id)).map((l) => l.message)).toEqual([
      'debug before',
      'first',
      'second',
      'debug between',
      'third',
    ]);
  });

  it('keeps the first 200 lines of a task that logs 1000, and one line counting the rest', async () => {
    h = await harness.start();
    await h.addWorker('w', { tasks: [flood] });
    const id = await finished('flood');
    const logs = await h.client.getRunLogs(id);
    expect(logs).toHaveLength(201);
    expect(logs.slice(0, 200).map((l) => l.message)).toEqual(
      Array.from({ length: 200 }, (_, i) => `line ${i}`),
    );
    expect(logs.map((l) => l.seq)).toEqual(Array.from({ length: 201 }, (_, i) => i + 1));
    expect(logs[200]).toMatchObject({
      seq: 201,
      level: 'warn',
      message: '800 lines dropped',
      fields: { dropped: 800 },
    });
  });

  it('refuses lines of a stale attempt, and keeps none sent after the attempt ended', async () => {
    h = await harness.start();
    const worker = await h.addWorker('w', { tasks: [chatty] });
    const id = await finished('chatty');
    const line = (attempt: number, seq: number) => ({
      runId: id,
      attempt,
      at: new Date().toISOString(),
      type: 'log' as const,
      seq,
      level: 'info' as const,
      message: `late ${attempt}`,
    });
    const posted = await h.asWorker(worker.token).events([line(2, 1), line(1, 4), line(1, 1)]);
    expect(posted).toEqual({ status: 200, body: { results: ['stale', 'ok', 'ok'] } });
    expect((await h.client.getRunLogs(id)).map((l) => l.message)).toEqual(['first', 'second', 'third']);
    const tooFar = await h.asWorker(worker.token).events([line(1, 202)]);
    expect(tooFar.status).toBe(400);
  });

  it('deletes the lines with their run once the retention has passed', async () => {
    h = await harness.start({ retentionMs: DAY });
    await h.addWorker('w', { tasks: [chatty] });
    const id = await finished('chatty');
    const stored = async () =>
      (await harness.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM pw_run_logs'))[0]!.n;
    expect(await stored()).toBe(3);
    await h.engine.sweep(Date.now() + DAY + 60_000);
    await until(async () => (await codeOf(h.client.getRun(id))) === 'not_found', 'the run deleted');
    expect(await stored()).toBe(0);
    expect(await codeOf(h.client.getRunLogs(id))).toBe('not_found');
  });
});
