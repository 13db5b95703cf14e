// A fake worker that does what the real one cannot be made to: it takes every assignment, reports it started,
// and then never ends it, whatever its timeout. A real worker times a run out itself (it reads `timeoutMs` off
// the assignment) and reports the failure first, so only a stuck worker shows the engine's own deadline sweep
// and the cancel push that follows it. Given `answer`, it answers assignment pushes with that instead (a worker
// that lies in its answers). It records every push it is sent. Everything else uses real workers.
import type { PushBody, RunEvent } from '../../../src/protocol/schemas.ts';
import { closeServer, listen } from '../../support/sink.ts';

export interface StuckWorker {
  pushes: PushBody[];
  close(): Promise<void>;
}

export async function startStuckWorker(o: {
  name: string;
  engineUrl: string;
  token: string;
  slots?: number;
  /** The 202 answer's body for the runs of a push, in place of accepting them and reporting them started. */
  answer?: (refs: { runId: string; attempt: number }[]) => unknown;
}): Promise<StuckWorker> {
  const pushes: PushBody[] = [];
  const call = (method: string, path: string, body: unknown) =>
    fetch(`${o.engineUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const { server, port } = await listen(async (request) => {
    const push = (await request.json()) as PushBody;
    pushes.push(push);
    if ('cancel' in push) return Response.json({ cancelled: push.cancel, unknown: [] });
    const refs = push.assignments.map(({ runId, attempt }) => ({ runId, attempt }));
    if (o.answer) return Response.json(o.answer(refs), { status: 202 });
    const at = new Date().toISOString();
    const started: RunEvent[] = refs.map((ref) => ({ ...ref, at, type: 'started' }));
    void call('POST', '/v1/events', { events: started });
    return Response.json({ accepted: refs, rejected: [] }, { status: 202 });
  });
  const registered = await call('PUT', '/v1/workers', {
    name: o.name,
    url: `http://127.0.0.1:${port}/`,
    slots: o.slots ?? 4,
    tasks: [{ name: 'job', inputSchema: {}, timeoutMs: 60_000, retries: 0, slotCost: 1 }],
  });
  if (!registered.ok) throw new Error(`registration failed: ${registered.status} ${await registered.text()}`);
  const { workerId } = (await registered.json()) as { workerId: string };
  const beat = setInterval(
    () => void call('POST', `/v1/workers/${workerId}/heartbeat`, { state: 'ACTIVE' }).catch(() => {}),
    200,
  );
  return {
    pushes,
    async close() {
      clearInterval(beat);
      await closeServer(server);
    },
  };
}
