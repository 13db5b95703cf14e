import { type ChildProcess, spawn } from 'node:child_process';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER } from '../../src/protocol/schemas.ts';
import { assignment, batch, createPusher } from '../support/push.ts';
import { startSink } from '../support/sink.ts';
import { until } from '../support/until.ts';
import { type Harness, startHarness } from '../support/worker.ts';

const harnesses: Harness[] = [];
const start = async (...args: Parameters<typeof startHarness>) => {
  const h = await startHarness(...args);
  harnesses.push(h);
  return h;
};
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

describe('worker lifecycle', () => {
  it('registers with the engine, retrying while it is down, then heartbeats itself', async () => {
    const h = await start({ start: false, labels: { gpu: 'a100' }, url: 'http://127.0.0.1:1/' });
    h.sink.down = true;
    h.worker.start();
    await until(
      () => h.logs.some((l) => l.includes('registration failed; retrying')),
      'a failed registration',
    );
    expect(h.sink.registrations).toEqual([]);
    h.sink.down = false;
    await until(() => h.sink.heartbeats.length >= 2, 'two heartbeats', { timeoutMs: 10_000 });
    expect(h.sink.registrations[0]).toMatchObject({
      name: 'test-worker',
      slots: 100,
      labels: { gpu: 'a100' },
    });
    expect(h.sink.heartbeats[0]).toMatchObject({
      id: 'w-1',
      state: 'ACTIVE',
      slots: { total: 100, used: 0 },
    });
    expect(h.logs.join('\n')).toMatch(/registration failed; retrying/);
    expect(h.logs.join('\n')).toMatch(/'test-worker' waiting for \['echo', 'sleep'/);
  });

  it('logs what the engine said when it refuses a registration, and reads no more than its answer limit', async () => {
    const h = await start({ start: false, url: 'http://127.0.0.1:1/' });
    h.sink.refuseRegistrations = {
      status: 422,
      body: { error: { code: 'invalid_request', message: 'task "echo" is declared twice' } },
    };
    h.worker.start();
    await until(
      () =>
        h.logs.some((l) =>
          l.includes('the engine answered 422 invalid_request: task "echo" is declared twice'),
        ),
      "the engine's refusal in the log",
      { detail: () => h.logs },
    );
    h.sink.refuseRegistrations = { junkBytes: 5 * 1024 * 1024 };
    await until(
      () => h.logs.some((l) => l.includes("the engine's answer to registration is not a registration")),
      'an oversized answer refused',
      { timeoutMs: 15_000, detail: () => h.logs },
    );
    expect(h.sink.registrations).toEqual([]);
    h.sink.refuseRegistrations = undefined;
    await until(() => h.sink.registrations.length > 0, 'a registration once the engine takes it', {
      timeoutMs: 15_000,
    });
  });

  it('drains gracefully: refuses new pushes with 503, finishes in-flight runs, flushes events, says STOPPED', async () => {
    const h = await start({ start: true });
    await until(() => h.sink.heartbeats.length > 0, 'a heartbeat', { timeoutMs: 10_000, everyMs: 10 });
    const a = assignment('sleep', { ms: 300 });
    expect((await h.pusher.send(h.url, batch(a))).status).toBe(202);
    await h.sink.waitFor(() => h.sink.of(a.runId, 'started').length === 1);
    const stopped = h.worker.stop({ graceMs: 5_000 });
    const refused = await h.pusher.send(h.url, batch(assignment('echo', { message: 'late' })));
    expect(refused.status).toBe(503);
    expect(refused.json.error.code).toBe('stopping');
    expect((await fetch(`${h.url}/health`)).status).toBe(503);
    await stopped;
    expect(h.sink.of(a.runId).at(-1)).toMatchObject({ type: 'completed' });
    expect(h.probe.aborts).toEqual([]);
    expect(h.sink.heartbeats.at(-1)).toMatchObject({ state: 'STOPPED', slots: { used: 0 } });
  });

  it('aborts runs still going when the grace period ends, reporting them as retryable', async () => {
    const h = await start();
    const a = assignment('sleep', { ms: 10_000 });
    await h.pusher.send(h.url, batch(a));
    await h.sink.waitFor(() => h.sink.of(a.runId, 'started').length === 1);
    await h.worker.stop({ graceMs: 100 });
    expect(h.sink.of(a.runId, 'failed')[0]).toMatchObject({
      error: { name: 'WorkerShutdown', retryable: true },
    });
  });

  it('never runs more than its slots under 10x overload', async () => {
    const h = await start({ slots: 5 });
    const runs = Array.from({ length: 50 }, () => assignment('sleep', { ms: 200 }));
    const answers = await Promise.all(runs.map((a) => h.pusher.send(h.url, batch(a))));
    const accepted = answers.filter((r) => r.status === 202).length;
    expect(answers.filter((r) => r.status === 429).length).toBe(50 - accepted);
    expect(accepted).toBeGreaterThanOrEqual(5);
    // Keep pushing rejected ones until all ran, as an engine would.
    let pending = runs.filter((_, i) => answers[i]!.status === 429);
    await until(
      async () => {
        const retry = await Promise.all(pending.map((a) => h.pusher.send(h.url, batch(a))));
        pending = pending.filter((_, i) => retry[i]!.status === 429);
        return pending.length === 0;
      },
      'every refused run to be taken',
      { everyMs: 10, detail: () => `${pending.length} still refused` },
    );
    await h.sink.waitFor(() => runs.every((a) => h.sink.of(a.runId, 'completed').length === 1));
    expect(h.probe.maxRunning).toBe(5);
    expect(h.probe.ran).toHaveLength(50);
  });

  it('runs nothing for any tampered body or signature byte', async () => {
    const h = await start();
    const body = batch(assignment('echo', { message: 'tamper-me' }));
    const signature = await h.pusher.sign(body);
    await fc.assert(
      fc.asyncProperty(
        fc.nat(body.length - 1),
        fc.nat(signature.length - 2),
        fc.integer({ min: 1, max: 255 }),
        fc.boolean(),
        async (i, j, delta, onBody) => {
          let b = body;
          let s = signature;
          if (onBody)
            b =
              body.slice(0, i) + String.fromCharCode((body.charCodeAt(i) + delta) % 128) + body.slice(i + 1);
          else s = signature.slice(0, j) + (signature[j] === 'A' ? 'B' : 'A') + signature.slice(j + 1);
          if (b === body && s === signature) return;
          const r = await fetch(h.url, { method: 'POST', headers: { [SIGNATURE_HEADER]: s }, body: b });
          expect([400, 401]).toContain(r.status);
        },
      ),
      { numRuns: 200 },
    );
    expect(h.probe.ran).toEqual([]);
  });
});

describe('the example worker process', () => {
  let child: ChildProcess | undefined;
  afterEach(() => child?.kill('SIGKILL'));

  it('serves the example tasks from env, registers, and exits 0 on SIGTERM after finishing in-flight work', async () => {
    const sink = await startSink();
    const pusher = await createPusher('example-worker');
    // Port 0: the worker binds a free port and logs which.
    child = spawn(process.execPath, ['--import', 'tsx', 'examples/node/worker.ts'], {
      env: {
        ...process.env,
        PORT: '0',
        PUSHWORKER_JWKS: JSON.stringify(pusher.jwks),
        PUSHWORKER_ENGINE_URL: sink.url,
        PUSHWORKER_TOKEN: 'example-token',
        PUSHWORKER_HEARTBEAT_MS: '100',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr!.on('data', (d) => {
      output += d;
    });
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
    // Listening on every interface, the line names the URL to use from this machine in parentheses.
    const listening = /listening on (?:\S+, every interface \()?(http:\/\/[^\s)]+)/;
    const url = await until(() => listening.exec(output)?.[1], 'the example worker to listen', {
      timeoutMs: 45_000,
      everyMs: 50,
      detail: () => output,
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    await until(() => sink.registrations.length > 0, 'the example worker to register', {
      timeoutMs: 45_000,
      everyMs: 50,
      detail: () => output,
    });
    expect(sink.registrations[0]).toMatchObject({ name: 'example-worker', slots: 100 });

    const a = assignment('sleep', { ms: 500 });
    expect((await pusher.send(url, batch(a, assignment('echo', { message: 'hi' })))).status).toBe(202);
    await sink.waitFor(() => sink.of(a.runId, 'started').length === 1);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(sink.of(a.runId).at(-1)).toMatchObject({ type: 'completed', output: { sleptMs: 500 } });
    expect(output).toMatch(
      /waiting for \['echo', 'sleep', 'fail', 'onboardUser', 'fetchOrder', 'priceOrder', 'reserveStock', 'invoiceOrder'\]/,
    );
    expect(output).toMatch(/received SIGTERM/);
    await sink.close();
  }, 60_000);
});
