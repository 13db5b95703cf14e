// The example's durable task enqueued through a real engine, which pushes each run again after every suspension:
// a step recorded once and returned on three later pushes, a sleep, a wait woken by a published event and one that
// times out, and a child run its parent awaits. On a sync target every suspension is in the push answer.
import { expect, it } from 'vitest';
import type { RunDetailView } from '../../src/client/index.ts';
import type { Harness } from '../support/engine.ts';
import { until } from '../support/until.ts';
import { deployOnEngine } from './engine-deployment.ts';
import type { TargetFactory } from './targets/target.ts';

const VERIFIED = 'u-verified';
const UNVERIFIED = 'u-unverified';

export function engineDurableScenario(factory: TargetFactory, startEngine: () => Promise<Harness>): void {
  it('runs the durable example through the engine: steps once across a sleep, a wait woken by an event and one timed out, a child run awaited', async () => {
    const h = await startEngine();
    const deployment = await deployOnEngine(factory, h);
    try {
      const [verified, unverified] = await Promise.all(
        [VERIFIED, UNVERIFIED].map((userId) => h.client.enqueue({ task: 'onboardUser', input: { userId } })),
      );
      /** The run as it waits for `user.verified`, its first step and its sleep over. */
      const waiting = (id: string) =>
        until(async () => {
          const run = await h.client.getRun(id);
          return run.state === 'QUEUED' && run.journal?.['wait:1'] ? run : undefined;
        }, `run ${id} to wait for user.verified`);
      const [verifiedWaiting, unverifiedWaiting] = await Promise.all([
        waiting(verified!.id),
        waiting(unverified!.id),
      ]);
      expect(verifiedWaiting.waitingFor).toMatch(/^the event user\.verified \(wait "wait:1" times out at /);
      // Only the user it names: the other wait goes on to its timeout.
      await h.client.publish({ name: 'user.verified', id: 'verify-1', payload: { userId: VERIFIED } });
      const [welcomed, reminded] = await Promise.all(
        [verified!, unverified!].map((r) => h.client.waitRun(r.id, { timeoutMs: 20_000 })),
      );

      const account = stepOutput(verifiedWaiting, 'create-account') as { createdAt: string };
      expect(welcomed).toMatchObject({ state: 'COMPLETED', failures: 0 });
      const welcomedDetail = await h.client.getRun(verified!.id);
      expect(welcomedDetail.output).toEqual({
        accountId: `acct-${VERIFIED}`,
        // Recorded on the first push, returned on the three after it without running the step again.
        createdAt: account.createdAt,
        verified: true,
        verifiedBy: 'verify-1',
        welcome: `welcome, ${VERIFIED}`,
        activatedAt: (stepOutput(welcomedDetail, 'activate') as { activatedAt: string }).activatedAt,
      });
      expect(welcomedDetail.attempts.map((a) => a.outcome)).toEqual([
        'suspended', // the sleep
        'suspended', // the wait
        'suspended', // the child run
        'completed',
      ]);
      expect(welcomedDetail.journal).toMatchObject({
        'create-account': { kind: 'step', output: account },
        'sleep:1': { kind: 'sleep' },
        'wait:1': {
          kind: 'wait',
          event: 'user.verified',
          received: { id: 'verify-1', name: 'user.verified', payload: { userId: VERIFIED } },
        },
        'child:1': {
          kind: 'child',
          result: { state: 'COMPLETED', output: { message: `welcome, ${VERIFIED}` } },
        },
      });
      const childId = (welcomedDetail.journal!['child:1'] as { runId: string }).runId;
      expect(await h.client.getRun(childId)).toMatchObject({
        task: 'echo',
        state: 'COMPLETED',
        parentRunId: verified!.id,
      });

      const remindedDetail = await h.client.getRun(unverified!.id);
      expect(reminded!.state).toBe('COMPLETED');
      expect(remindedDetail.output).toEqual({
        accountId: `acct-${UNVERIFIED}`,
        createdAt: (stepOutput(unverifiedWaiting, 'create-account') as { createdAt: string }).createdAt,
        verified: false,
        remindedAt: (stepOutput(remindedDetail, 'remind') as { remindedAt: string }).remindedAt,
      });
      expect(remindedDetail.journal!['wait:1']).not.toHaveProperty('received');
      expect(remindedDetail.attempts.map((a) => a.outcome)).toEqual(['suspended', 'suspended', 'completed']);
    } finally {
      await deployment.close();
    }
  }, 30_000);
}

function stepOutput(run: RunDetailView, name: string): unknown {
  const entry = run.journal?.[name];
  expect(entry).toMatchObject({ kind: 'step' });
  return (entry as { output: unknown }).output;
}
