// The demo's durable runs: users onboarded by the example worker's `onboardUser` task (an account step, a short
// sleep, a wait for `user.verified`, a welcome as a child run), some of them verified once their run waits, the
// others left to time out and be reminded; waited on and summed up beside the task runs.
import type { Client, RunDetailView, RunView } from '../client/index.ts';
import { TERMINAL_RUN_STATES } from '../protocol/schemas.ts';

export interface DemoUser {
  userId: string;
  /** Published `user.verified` once its run waits for it; else the wait times out. */
  verifies: boolean;
}

export function demoUsers(total: number): DemoUser[] {
  return Array.from({ length: total }, (_, i) => ({ userId: `demo-user-${i}`, verifies: i % 3 !== 2 }));
}

export async function enqueueOnboarding(client: Client, users: DemoUser[]): Promise<RunView[]> {
  return client.enqueueMany(users.map((u) => ({ task: 'onboardUser', input: { userId: u.userId } })));
}

/**
 * Publishes `user.verified` for each verifying user once their run waits for it (an event published earlier would
 * not count), then waits for every run; each as it ended, or as it stood at `deadline`.
 */
export async function runOnboarding(
  client: Client,
  users: DemoUser[],
  runs: RunView[],
  deadline: number,
): Promise<RunDetailView[]> {
  await Promise.all(
    users.map(async (user, i) => {
      if (user.verifies && (await waitingForVerification(client, runs[i]!.id, deadline)))
        await client.publish({
          name: 'user.verified',
          id: `verified-${user.userId}`,
          payload: { userId: user.userId },
        });
    }),
  );
  return Promise.all(
    runs.map(async (r) => {
      await client.waitRun(r.id, { timeoutMs: Math.max(0, deadline - Date.now()) });
      return client.getRun(r.id);
    }),
  );
}

async function waitingForVerification(client: Client, id: string, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    const run = await client.getRun(id);
    if (run.state === 'QUEUED' && run.journal?.['wait:1']) return true;
    if (TERMINAL_RUN_STATES.has(run.state)) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** The runs that did not end as their user expects: welcomed when verified, reminded when not. */
export function unexpectedOnboarding(users: DemoUser[], runs: RunDetailView[]): RunDetailView[] {
  return runs.filter(
    (r, i) => r.state !== 'COMPLETED' || (r.output as { verified?: boolean }).verified !== users[i]!.verifies,
  );
}

export function printOnboardingSummary(runs: RunDetailView[], out: (line: string) => void): void {
  const outcome = (verified: boolean) =>
    runs.filter((r) => r.state === 'COMPLETED' && (r.output as { verified?: boolean }).verified === verified)
      .length;
  const suspensions = runs.reduce(
    (sum, r) => sum + r.attempts.filter((a) => a.outcome === 'suspended').length,
    0,
  );
  const finished = runs.filter((r) => TERMINAL_RUN_STATES.has(r.state));
  out(
    `durable: ${runs.length} onboardUser runs (a step, a sleep, a wait for user.verified, a child run): ` +
      `${outcome(true)} verified and welcomed, ${outcome(false)} reminded after their wait timed out, ` +
      `${runs.length - finished.length} not finished; ${suspensions} suspensions holding no slot`,
  );
}
