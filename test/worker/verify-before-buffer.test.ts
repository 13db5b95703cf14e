// The worker checks a push's signature header before it reads the body, and bounds the bodies it reads unverified.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signPush } from '../../src/auth/index.ts';
import { SIGNATURE_HEADER } from '../../src/protocol/schemas.ts';
import { runCloudflareExample } from '../conformance/targets/cloudflare.ts';
import { sinkWiring, workerEnv } from '../conformance/targets/target.ts';
import { HATCHET_SECRET, hatchetHeaders } from '../support/hatchet.ts';
import { type HeldUpload, startUpload } from '../support/held-upload.ts';
import { stopProcess } from '../support/process.ts';
import { assignment, batch, createPusher } from '../support/push.ts';
import { startSink } from '../support/sink.ts';
import { until } from '../support/until.ts';
import { type Harness, startHarness } from '../support/worker.ts';

const fixture = fileURLToPath(new URL('./fixtures/held-body-worker.ts', import.meta.url));
const NAME = 'held-body-worker';
const SECRET = 'held-body-shared-secret-0123456789abcdef';
const CONNECTIONS = 150;
const BODY_BYTES = 1_000_000;
const MB = 1024 * 1024;

interface ChildWorker {
  child: ChildProcess;
  port: number;
  rss(): Promise<number>;
}

async function spawnWorker(env: Record<string, string> = {}): Promise<ChildWorker> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: {
      ...process.env,
      PUSHWORKER_NAME: NAME,
      PUSHWORKER_SECRET: SECRET,
      PUSHWORKER_LOG_LEVEL: 'error',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`the worker exited with ${code}`)));
  });
  const rss = () =>
    new Promise<number>((resolve) => {
      child.once('message', (m) => resolve((m as { rss: number }).rss));
      child.send('rss');
    });
  return { child, port, rss };
}

const children: ChildProcess[] = [];
const uploads: HeldUpload[] = [];
afterEach(async () => {
  for (const u of uploads.splice(0)) u.socket.destroy();
  await Promise.all(children.splice(0).map((c) => stopProcess(c, 'SIGKILL')));
});

const hs256 = (secret: string) => ({ alg: 'HS256' as const, key: new TextEncoder().encode(secret) });
const signFor = (secret: string) =>
  signPush({ key: hs256(secret), issuer: 'engine', audience: NAME, body: 'x'.repeat(BODY_BYTES) });

/** CONNECTIONS uploads of a BODY_BYTES body, each sent but for its last byte and held open. */
async function holdUploads(port: number, signature: () => Promise<string>): Promise<HeldUpload[]> {
  const allButLast = Buffer.alloc(BODY_BYTES - 1, 'x');
  const held = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const headers = { 'content-type': 'application/json', [SIGNATURE_HEADER]: await signature() };
      const upload = await startUpload(port, { headers, declared: BODY_BYTES });
      upload.write(allButLast);
      return upload;
    }),
  );
  uploads.push(...held);
  return held;
}

/** The largest RSS seen while `during` runs, sampled every 20 ms, and once after it. */
async function peakRss(worker: ChildWorker, during: Promise<unknown>): Promise<number> {
  let peak = 0;
  let done = false;
  const sampling = (async () => {
    while (!done) {
      peak = Math.max(peak, await worker.rss());
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await during.finally(() => {
    done = true;
  });
  await sampling;
  return Math.max(peak, await worker.rss());
}

describe('a forged push is refused before its body is read (Node, worker in a process of its own)', () => {
  it(`answers ${CONNECTIONS} held-open 1 MB uploads with a bad signature 401 at once, holding none of them`, async () => {
    // Baseline: what reading those bodies before verifying them takes, measured on a worker whose header check
    // lets them through (a valid signature, with bounds wide enough to read them all).
    const reader = await spawnWorker({
      PUSHWORKER_MAX_UNVERIFIED_BODIES: '1000',
      PUSHWORKER_UNVERIFIED_BODY_TIMEOUT_MS: '120000',
    });
    const readerBefore = await reader.rss();
    await holdUploads(reader.port, () => signFor(SECRET));
    const buffered = await until(
      async () => {
        const growth = (await reader.rss()) - readerBefore;
        return growth > CONNECTIONS * BODY_BYTES * 0.6 && growth;
      },
      'the reading worker to hold the bodies',
      { timeoutMs: 30_000, everyMs: 50 },
    );
    for (const u of uploads.splice(0)) u.socket.destroy();
    await stopProcess(reader.child, 'SIGKILL');

    const worker = await spawnWorker();
    const before = await worker.rss();
    const started = Date.now();
    const held = await holdUploads(worker.port, () => signFor('another-secret-0123456789abcdef-xyz'));
    // A server that closes with a body unread resets the connection: a client still writing may lose the answer.
    const answered = Promise.all(held.map((u) => u.answer.catch(() => undefined)));
    const peak = await peakRss(worker, answered);
    const answers = (await answered).filter((a) => a !== undefined);
    const seconds = (Date.now() - started) / 1000;
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(a.json.error.code).toBe('bad_signature');
      expect(a.headers.connection).toBe('close');
      // The last byte was never sent: a worker that read the body first could not have answered yet.
      expect(a.sentBefore).toBeLessThan(BODY_BYTES);
    }
    expect(answers.length).toBeGreaterThanOrEqual(CONNECTIONS * 0.75);
    const metrics = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
    expect(metrics).toContain(`pushworker_push_auth_failures_total{code="bad_signature"} ${CONNECTIONS}`);
    await until(() => held.every((u) => u.closed), 'the worker to close every refused connection', 10_000);
    const growth = peak - before;
    console.log(
      `held-open uploads: ${CONNECTIONS} x ${BODY_BYTES} B; reading first: RSS ${mb(readerBefore)} -> ` +
        `${mb(readerBefore + buffered)} MB (+${mb(buffered)}); verifying first: RSS ${mb(before)} -> ` +
        `${mb(peak)} MB (+${mb(growth)}), all refused in ${seconds.toFixed(2)} s, ` +
        `${CONNECTIONS - answers.length} answers lost to a reset`,
    );
    expect(growth).toBeLessThan(40 * MB);
    expect(growth).toBeLessThan(buffered / 4);
  }, 90_000);
});

const mb = (bytes: number) => (bytes / MB).toFixed(0);

describe('bodies read before they are verified (Node, over a real socket)', () => {
  let h: Harness;
  const DEADLINE_MS = 300;
  const BOUND = 4;
  beforeAll(async () => {
    h = await startHarness({
      unverifiedBodyTimeoutMs: DEADLINE_MS,
      maxUnverifiedBodies: BOUND,
      hatchet: { signingSecret: HATCHET_SECRET },
    });
  });
  afterAll(() => h.close());
  const port = () => Number(new URL(h.url).port);

  it('cuts a slowly trickled body at the deadline with 408 body_timeout, and closes the connection', async () => {
    const a = assignment('echo', { message: 'trickled' });
    const body = Buffer.from(batch(a));
    const headers = {
      'content-type': 'application/json',
      [SIGNATURE_HEADER]: await h.pusher.sign(body.toString()),
    };
    const upload = await startUpload(port(), { headers, declared: body.length });
    uploads.push(upload);
    const started = Date.now();
    let at = 0;
    const trickle = setInterval(() => upload.write(body.subarray(at, ++at)), 20);
    try {
      const answer = await upload.answer;
      const elapsed = Date.now() - started;
      expect(answer.status).toBe(408);
      expect(answer.json.error.code).toBe('body_timeout');
      expect(answer.headers.connection).toBe('close');
      expect(answer.sentBefore).toBeLessThan(body.length);
      console.log(
        `a body trickled at a byte every 20 ms: cut after ${elapsed} ms (deadline ${DEADLINE_MS} ms)`,
      );
      expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 20);
      expect(elapsed).toBeLessThan(10_000);
      await until(() => upload.closed, 'the worker to close the connection', 5_000);
    } finally {
      clearInterval(trickle);
    }
    expect(h.probe.ran).not.toContain(a.runId);
  });

  it(`reads at most ${BOUND} unverified bodies at once: one more is refused 429 busy unread, then all go on`, async () => {
    const wide = await startHarness({
      unverifiedBodyTimeoutMs: 20_000,
      maxUnverifiedBodies: BOUND,
      hatchet: { signingSecret: HATCHET_SECRET },
    });
    try {
      const widePort = Number(new URL(wide.url).port);
      const pushes = Array.from({ length: BOUND }, () => {
        const a = assignment('echo', { message: 'held' });
        return { a, body: Buffer.from(batch(a)) };
      });
      const held = await Promise.all(
        pushes.map(async ({ body }) => {
          const headers = {
            'content-type': 'application/json',
            [SIGNATURE_HEADER]: await wide.pusher.sign(body.toString()),
          };
          const upload = await startUpload(widePort, { headers, declared: body.length });
          upload.write(body.subarray(0, 10));
          return upload;
        }),
      );
      uploads.push(...held);
      const reading = async () => {
        const text = await (await fetch(`${wide.url}/metrics`)).text();
        return Number(/^pushworker_unverified_bodies_reading (\d+)$/m.exec(text)?.[1]);
      };
      await until(async () => (await reading()) === BOUND, `${BOUND} bodies being read`, 5_000);

      const extra = assignment('echo', { message: 'one too many' });
      const refused = await wide.pusher.send(wide.url, batch(extra));
      expect(refused.status).toBe(429);
      expect(refused.json.error.code).toBe('busy');
      expect(refused.headers.get('retry-after')).toBe('1');
      // The Hatchet route reads its bodies unverified too, and shares the bound.
      const hatchetBody = '{}';
      const hatchet = await fetch(`${wide.url}/hatchet/health`, {
        method: 'POST',
        headers: hatchetHeaders(hatchetBody),
        body: hatchetBody,
      });
      expect(hatchet.status).toBe(429);
      expect(((await hatchet.json()) as any).error.code).toBe('busy');

      for (const [i, upload] of held.entries()) upload.write(pushes[i]!.body.subarray(10));
      const answers = await Promise.all(held.map((u) => u.answer));
      expect(answers.map((a) => a.status)).toEqual(pushes.map(() => 202));
      expect((await wide.pusher.send(wide.url, batch(assignment('echo', { message: 'after' })))).status).toBe(
        202,
      );
      expect(await reading()).toBe(0);
      expect(wide.probe.ran).not.toContain(extra.runId);
    } finally {
      await wide.close();
    }
  });

  it('still refuses a body that does not match its signed hash (body_mismatch)', async () => {
    const a = assignment('echo', { message: 'signed' });
    const signature = await h.pusher.sign(batch(a));
    const res = await fetch(h.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature },
      body: batch({ ...a, input: { message: 'tampered' } }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error.code).toBe('body_mismatch');
    expect(h.probe.ran).not.toContain(a.runId);
  });
});

describe('verify before reading, inside workerd (miniflare)', () => {
  it('refuses a forged push with its body held open, cuts a slow body at the deadline, runs a valid push', async () => {
    const sink = await startSink();
    const pusher = await createPusher('conformance-worker');
    const mf = await runCloudflareExample({
      ...workerEnv(sinkWiring(sink, pusher)),
      PUSHWORKER_UNVERIFIED_BODY_TIMEOUT_MS: '300',
    });
    try {
      const port = Number((await mf.ready).port);
      const body = Buffer.from(batch(assignment('echo', { message: 'workerd' })));

      const forged = await startUpload(port, {
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: 'not.a.jws' },
        declared: body.length + 60_000,
      });
      uploads.push(forged);
      forged.write(body);
      const refused = await forged.answer;
      expect(refused.status).toBe(401);
      expect(refused.json.error.code).toBe('bad_signature');

      const slow = await startUpload(port, {
        headers: {
          'content-type': 'application/json',
          [SIGNATURE_HEADER]: await pusher.sign(body.toString()),
        },
        declared: body.length,
      });
      uploads.push(slow);
      slow.write(body.subarray(0, 10));
      const cut = await slow.answer;
      expect(cut.status).toBe(408);
      expect(cut.json.error.code).toBe('body_timeout');

      const valid = await mf.dispatchFetch('http://worker.test/', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [SIGNATURE_HEADER]: await pusher.sign(body.toString()),
        },
        body: body.toString(),
      });
      expect(valid.status).toBe(200);
      expect(((await valid.json()) as any).results).toMatchObject([{ status: 'completed' }]);
    } finally {
      await mf.dispose();
      await sink.close();
    }
  }, 60_000);
});
