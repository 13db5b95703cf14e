// The worker's side of a journal: recorded steps are returned without running, names are claimed once per run,
// a sleep or wait not yet in the journal suspends, one in it is over, and a bad entry fails the run for good.
import { describe, expect, it } from 'vitest';
import { NonRetryableError } from '../../src/index.ts';
import { DurableRun, SuspendRequested } from '../../src/worker/durable.ts';

const noChildren = async (): Promise<never> => {
  throw new Error('no child runs here');
};

describe('DurableRun', () => {
  it('runs a new step once and records it; returns a recorded one without running it', async () => {
    const recorded: [string, unknown][] = [];
    const run = new DurableRun(
      { old: { kind: 'step', output: 41 } },
      (n, o) => recorded.push([n, o]),
      noChildren,
    );
    let ran = 0;
    expect(await run.step('old', () => ran++)).toBe(41);
    expect(await run.step('new', () => ++ran)).toBe(1);
    expect(await run.step('nothing', () => undefined)).toBeNull();
    expect(recorded).toEqual([
      ['new', 1],
      ['nothing', null],
    ]);
    await expect(run.step('new', () => 2)).rejects.toThrow(/used twice/);
    await expect(run.step('bigint', () => 1n)).rejects.toBeInstanceOf(NonRetryableError);
  });

  it('suspends at a sleep or wait not in the journal, and goes on past one that is', async () => {
    const fresh = new DurableRun({}, () => {}, noChildren);
    const sleeping = await fresh.sleep(1_000).catch((e) => e);
    expect(sleeping).toBeInstanceOf(SuspendRequested);
    expect(fresh.suspension).toMatchObject({ entry: 'sleep:1' });
    expect(Date.parse(fresh.suspension!.until) - Date.now()).toBeGreaterThan(900);
    // Whatever the task does after a suspension, it goes no further.
    await expect(fresh.step('after', () => 1)).rejects.toBeInstanceOf(SuspendRequested);

    const waiting = new DurableRun({}, () => {}, noChildren);
    await expect(waiting.waitFor('paid', { timeoutMs: 50, filter: { id: 1 } })).rejects.toBeInstanceOf(
      SuspendRequested,
    );
    expect(waiting.suspension).toMatchObject({ entry: 'wait:1', event: { name: 'paid', filter: { id: 1 } } });

    const until = new Date().toISOString();
    const resumed = new DurableRun(
      {
        'sleep:1': { kind: 'sleep', until },
        'wait:1': {
          kind: 'wait',
          event: 'paid',
          until,
          received: { id: 'e', name: 'paid', key: null, payload: 3 },
        },
        'wait:2': { kind: 'wait', event: 'paid', until },
      },
      () => {},
      noChildren,
    );
    await resumed.sleep(1_000);
    expect(await resumed.waitFor('paid', { timeoutMs: 1 })).toMatchObject({ id: 'e', payload: 3 });
    expect(await resumed.waitFor('paid', { timeoutMs: 1 })).toBeNull();
    expect(resumed.suspension).toBeUndefined();
  });

  it('refuses a bad duration and an entry of another kind', async () => {
    const run = new DurableRun({ s: { kind: 'step', output: 1 } }, () => {}, noChildren);
    await expect(run.sleep(-1)).rejects.toThrow(/sleep takes 0 to/);
    await expect(run.sleep(1, 's')).rejects.toThrow(/is a step, not a sleep/);
    await expect(run.waitFor('x', { timeoutMs: Number.NaN })).rejects.toThrow(/waitFor timeoutMs takes/);
  });
});
