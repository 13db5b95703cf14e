// Asks the engine for a child run of the run in hand, with the worker token, at the engine the run's events go to.
import { answerProblem, readJsonAnswer } from '../http/answer.ts';
import { SpawnChildResponse } from '../protocol/child-runs.ts';

/** How long the engine may take to enqueue a child: the task is waiting for it. */
const SPAWN_TIMEOUT_MS = 10_000;

export interface ChildRequest {
  parent: { runId: string; attempt: number };
  key: string;
  task: string;
  input: unknown;
}

export class ChildSpawner {
  constructor(private readonly o: { token?: string | undefined; fetch: typeof fetch }) {}

  /** Throws (a retryable failure of the parent) when the engine cannot be reached or refuses. */
  async spawn(eventsUrl: string | undefined, request: ChildRequest): Promise<{ runId: string }> {
    if (!eventsUrl || !this.o.token) {
      throw new Error(
        'a child run needs an engine to ask: this worker sends no events (no engine URL or token)',
      );
    }
    const base = eventsUrl.replace(/\/v1\/events$/, '');
    const url = `${base}/v1/runs/${encodeURIComponent(request.parent.runId)}/children`;
    const response = await this.o.fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        attempt: request.parent.attempt,
        key: request.key,
        task: request.task,
        input: request.input ?? null,
      }),
      signal: AbortSignal.timeout(SPAWN_TIMEOUT_MS),
    });
    const payload = await readJsonAnswer(response);
    if (!response.ok)
      throw new Error(`the engine refused the child run: ${answerProblem(response.status, payload)}`);
    const parsed = SpawnChildResponse.safeParse(payload);
    if (!parsed.success) throw new Error('the engine answered the child run with something else');
    return { runId: parsed.data.runId };
  }
}
