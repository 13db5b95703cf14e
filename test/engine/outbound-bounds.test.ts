// Every call the engine makes to a worker URL is bounded: the answer's size (cut off at the cap), the whole call's
// time (an overall deadline, not only idle timeouts), and no redirect is followed.
import { afterEach, describe, expect, it } from 'vitest';
import type { Registration } from '../../src/protocol/schemas.ts';
import { type Harness, harnessPerTest, until } from '../support/engine.ts';
import { type HostileServer, hostileServer, redirect, streamJson, trickle } from '../support/hostile.ts';

const harness = harnessPerTest();
const MiB = 1024 * 1024;
const servers: HostileServer[] = [];
let h: Harness;

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serverOf(behaviour: Parameters<typeof hostileServer>[0]): Promise<HostileServer> {
  const server = await hostileServer(behaviour);
  servers.push(server);
  return server;
}

function manifest(name: string, url: string): Registration {
  const echo = { name: 'echo', inputSchema: {}, timeoutMs: 60_000, retries: 0, slotCost: 1 };
  return { name, url, slots: 1, labels: {}, tasks: [echo] };
}

/** Registers a worker at `url` with its token, enqueues one echo run, and waits for that run to fail. */
async function pushOnceTo(url: string): Promise<{ error: string; pushFailing: string | undefined }> {
  const { token } = await h.engine.createToken('worker', 'hostile');
  expect((await h.asWorker(token).register(manifest('hostile', url))).status).toBe(200);
  const { id } = await h.client.enqueue({ task: 'echo', input: {} });
  const run = await until(async () => {
    const r = await h.client.getRun(id);
    return r.state === 'FAILED' && r;
  }, 'the run to fail for want of a usable answer');
  const worker = (await h.client.listWorkers()).find((w) => w.name === 'hostile');
  return { error: run.error?.message ?? '', pushFailing: worker?.pushFailing?.reason };
}

async function registerByUrl(body: { url: string; name?: string }): Promise<{ status: number; body: any }> {
  const res = await fetch(`${h.url}/v1/workers/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.engine.config.apiTokens[0]}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

describe('answer size', () => {
  it('cuts a push answer streaming 200 MB at the cap and fails the attempt with its reason', async () => {
    h = await harness.start({ maxAnswerBytes: MiB, maxDeliveries: 1 });
    const worker = await serverOf(streamJson(200 * MiB, '{"accepted":"'));
    const { error, pushFailing } = await pushOnceTo(worker.url);
    const reason = `answer from ${worker.url} over ${MiB} bytes (PUSHWORKER_MAX_ANSWER_BYTES), cut off`;
    expect(error).toBe(`gave up after 1 deliveries: push failed: ${reason}`);
    expect(pushFailing).toBe(reason);
    const sent = await until(() => worker.answers[0]?.closed && worker.answers[0], 'the answer to be cut');
    // What the server wrote before it saw the close: the cap and what loopback's socket buffers took.
    expect(sent.cut).toBe(true);
    expect(sent.bytes).toBeLessThan(32 * MiB);
  });

  it('cuts a /health answer of 200 MB when registering by URL, naming the cause', async () => {
    h = await harness.start({ maxAnswerBytes: MiB });
    const worker = await serverOf(streamJson(200 * MiB));
    const answer = await registerByUrl({ url: worker.url });
    expect(answer).toEqual({
      status: 400,
      body: {
        error: {
          code: 'invalid_request',
          message: `no worker name given and none found at ${worker.url}/health: the answer is over ${MiB} bytes (PUSHWORKER_MAX_ANSWER_BYTES) and was cut off`,
        },
      },
    });
    const sent = await until(() => worker.answers[0]?.closed && worker.answers[0], 'the answer to be cut');
    expect(sent.cut).toBe(true);
    expect(sent.bytes).toBeLessThan(32 * MiB);
    expect(await h.client.listWorkers()).toEqual([]);
  });

  it('cuts a manifest of 200 MB when registering by URL with a name', async () => {
    h = await harness.start({ maxAnswerBytes: MiB });
    const worker = await serverOf(streamJson(200 * MiB));
    const answer = await registerByUrl({ url: worker.url, name: 'big' });
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toBe(
      `the worker at ${worker.url} gave no manifest: the answer is over ${MiB} bytes (PUSHWORKER_MAX_ANSWER_BYTES) and was cut off`,
    );
    expect(worker.requests).toEqual(['GET /']);
    expect(worker.answers[0]!.bytes).toBeLessThan(32 * MiB);
  });
});

describe('overall deadline', () => {
  it('ends a manifest pull that trickles past the deadline, though no idle timeout fires', async () => {
    h = await harness.start({ outboundTimeoutMs: 500 });
    const worker = await serverOf(trickle(50));
    const answer = await registerByUrl({ url: worker.url, name: 'slow' });
    expect(answer).toEqual({
      status: 400,
      body: {
        error: {
          code: 'invalid_request',
          message: `the worker at ${worker.url} gave no manifest: no whole answer within 500 ms`,
        },
      },
    });
    await until(() => worker.answers[0]?.closed, 'the trickle to be cut');
  });

  it('ends a /health read that trickles past the deadline', async () => {
    h = await harness.start({ outboundTimeoutMs: 500 });
    const worker = await serverOf(trickle(50));
    const answer = await registerByUrl({ url: worker.url });
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toBe(
      `no worker name given and none found at ${worker.url}/health: no whole answer within 500 ms`,
    );
    expect(worker.requests).toEqual(['GET /health']);
    await until(() => worker.answers[0]?.closed, 'the trickle to be cut');
  });

  it('ends a push that trickles past the push timeout and records why', async () => {
    h = await harness.start({ pushTimeoutMs: 500, maxDeliveries: 1 });
    const worker = await serverOf(trickle(50));
    const { error, pushFailing } = await pushOnceTo(worker.url);
    const reason = `no whole answer from ${worker.url} within 500 ms (PUSHWORKER_PUSH_TIMEOUT_MS)`;
    expect(error).toBe(`gave up after 1 deliveries: push failed: ${reason}`);
    expect(pushFailing).toBe(reason);
    await until(() => worker.answers[0]?.closed, 'the trickle to be cut');
  });

  it('ends a push whose worker never sends its headers at the same deadline, with the same reason', async () => {
    h = await harness.start({ pushTimeoutMs: 500, maxDeliveries: 1 });
    const worker = await serverOf(() => {});
    const { pushFailing } = await pushOnceTo(worker.url);
    expect(pushFailing).toBe(`no whole answer from ${worker.url} within 500 ms (PUSHWORKER_PUSH_TIMEOUT_MS)`);
    expect(worker.requests).toEqual(['POST /']);
  });
});

describe('redirects', () => {
  it('does not follow a redirect on /health: the target sees no request', async () => {
    h = await harness.start();
    const target = await serverOf(streamJson(10));
    const worker = await serverOf(redirect(302, () => target.url));
    const answer = await registerByUrl({ url: worker.url });
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toBe(
      `no worker name given and none found at ${worker.url}/health: it answered 302 (redirects are not followed)`,
    );
    expect(worker.requests).toEqual(['GET /health']);
    expect(target.requests).toEqual([]);
  });

  it('does not follow a redirect on a manifest pull', async () => {
    h = await harness.start();
    const target = await serverOf(streamJson(10));
    const worker = await serverOf(redirect(307, () => target.url));
    const answer = await registerByUrl({ url: worker.url, name: 'moved' });
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toBe(
      `the worker at ${worker.url} answered 307 to a manifest pull (redirects are not followed)`,
    );
    expect(target.requests).toEqual([]);
  });

  it('does not follow a redirect on a push: the 3xx is a failed push', async () => {
    h = await harness.start({ maxDeliveries: 1 });
    const target = await serverOf(streamJson(10));
    const worker = await serverOf(redirect(308, () => target.url));
    const { pushFailing } = await pushOnceTo(worker.url);
    expect(pushFailing).toBe(`308 from ${worker.url}`);
    expect(target.requests).toEqual([]);
  });
});
