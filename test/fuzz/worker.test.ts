import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type NodeWorkerServer, serve } from '../../adapters/node.ts';
import { createLogger, createWorker, task, type Worker } from '../../src/index.ts';
import { rejectReasons, SIGNATURE_HEADER } from '../../src/protocol/index.ts';
import { assignedAction, HATCHET_SECRET, hatchetHeaders } from '../support/hatchet.ts';
import { type Sink, startSink } from '../support/sink.ts';
import {
  bodyOf,
  budgetMs,
  FUZZ_RUNS,
  hostileString,
  hostileValue,
  pathSegment,
  shaped,
} from './arbitraries.ts';
import { type Answer, answerOf, malformed } from './expect.ts';
import { createSigner, FORGERIES, forgeryKinds, type Signer } from './forge.ts';

// Every route of a worker endpoint under hostile input. The probe task only runs for an input no fuzzer can
// guess, so any run at all means something was accepted that should not have been.
const NAME = 'fuzz-worker';
const PROBE_KEY = crypto.randomUUID();
const MAX_BODY = 512 * 1024;
const WORKER_TOKEN = `pwt.fuzzworker.${crypto.randomUUID()}`;

let signer: Signer;
let sink: Sink;
let worker: Worker;
let server: NodeWorkerServer;
const ran: string[] = [];
const logs: string[] = [];
const counts: Record<string, number> = {};

beforeAll(async () => {
  signer = await createSigner(NAME);
  sink = await startSink();
  const probe = task({
    name: 'probe',
    input: z.object({ key: z.literal(PROBE_KEY) }),
    run: (_input, ctx) => {
      ran.push(ctx.runId);
      return 'ran';
    },
  });
  worker = createWorker({
    name: NAME,
    tasks: [probe],
    slots: 4,
    keys: { jwks: signer.jwks, secret: signer.secret },
    issuer: signer.issuer,
    engineUrl: sink.url,
    token: WORKER_TOKEN,
    maxBodyBytes: MAX_BODY,
    hatchet: { signingSecret: HATCHET_SECRET },
    logger: createLogger('debug', (line) => logs.push(line)),
  });
  server = await serve(worker, { port: 0, hostname: '127.0.0.1', start: false, handleSignals: false });
});
afterAll(async () => {
  await server?.close();
  await sink?.close();
  console.log(
    `worker fuzz cases per family: ${JSON.stringify(counts)}; oversized uploads closed early: ${closedEarly}`,
  );
});

/** In process through `worker.fetch`, or (one case in eight) over the loopback socket. */
async function send(
  overSocket: boolean,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string | Uint8Array,
): Promise<Answer> {
  const init: RequestInit = { method, headers, ...(body === undefined ? {} : { body: body as BodyInit }) };
  const url = `${server.url}${path}`;
  if (!overSocket) return answerOf(await worker.fetch(new Request(url, init)));
  // A connection of its own per request: the server closes one an oversized upload was cut off on.
  const dispatcher = new Agent({ pipelining: 0 });
  try {
    return await answerOf((await undiciFetch(url, { ...init, dispatcher } as never)) as unknown as Response);
  } catch (error) {
    // @hono/node-server answers 413 at once and drains the rest of an oversized upload for at most 500 ms,
    // then closes the socket: a client still writing may see the close instead of the 413. Nothing runs.
    if (body === undefined || byteLength(body) <= MAX_BODY) throw error;
    closedEarly++;
    return { status: 413, text: '', json: { error: { code: 'too_large' } } };
  } finally {
    await dispatcher.close().catch(() => {});
  }
}
let closedEarly = 0;

const secrets = () => [WORKER_TOKEN, signer.secret, HATCHET_SECRET];

function settle(family: string, answer: Answer, method = 'POST') {
  counts[family] = (counts[family] ?? 0) + 1;
  const problem = malformed(answer, secrets(), method);
  if (problem) throw new Error(problem);
  if (ran.length > 0) throw new Error(`the probe ran: ${ran.join(', ')}`);
  if (sink.events.length > 0) throw new Error(`events were posted: ${JSON.stringify(sink.events[0])}`);
}

const assignmentShape = shaped({
  runId: hostileString,
  attempt: fc.integer({ min: 1, max: 1_000_000 }),
  task: fc.constantFrom('probe', 'echo', 'PROBE', 'probe '),
  input: fc.oneof(hostileValue, fc.record({ key: hostileString })),
  timeoutMs: fc.integer({ min: 1 }),
  slotCost: fc.integer({ min: 1, max: 10 }),
  metadata: fc.dictionary(hostileString, hostileValue, { maxKeys: 3 }),
  eventsUrl: fc.webUrl(),
});
const pushShape = fc.oneof(
  shaped({ v: fc.constant(1), assignments: fc.array(assignmentShape, { maxLength: 5 }) }),
  shaped({
    v: fc.constant(1),
    cancel: fc.array(shaped({ runId: hostileString, attempt: fc.nat() }), { maxLength: 5 }),
  }),
);
const byteLength = (b: string | Uint8Array) => (typeof b === 'string' ? Buffer.byteLength(b) : b.length);

describe('worker endpoint fuzz', () => {
  it('positive control: the genuine push the fuzzers cannot forge does run the probe', async () => {
    const body = JSON.stringify({
      v: 1,
      assignments: [{ runId: 'control', attempt: 1, task: 'probe', input: { key: PROBE_KEY } }],
    });
    const answer = await send(
      false,
      'POST',
      '/',
      { [SIGNATURE_HEADER]: (await signer.sign('valid', body))! },
      body,
    );
    expect(answer.status).toBe(202);
    await sink.waitFor((events) => events.some((e) => e.type === 'completed'));
    expect(ran).toEqual(['control']);
    await worker.flush(5_000);
    ran.length = 0;
    sink.events.length = 0;
  });

  it(
    'push (POST /): forged, expired, replayed, wrong-audience or hostile pushes run nothing and answer their code',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...forgeryKinds),
          bodyOf(pushShape),
          fc.integer({ min: 0, max: 7 }),
          async (kind, body, transport) => {
            const overSocket = transport === 0;
            const signature = await signer.sign(kind, body);
            const headers: Record<string, string> = { 'content-type': 'application/json' };
            if (signature !== undefined) headers[SIGNATURE_HEADER] = signature;
            let answer = await send(overSocket, 'POST', '/', headers, body);
            if (kind === 'replay' && answer.status !== 413) {
              settle('push', answer);
              answer = await send(overSocket, 'POST', '/', headers, body);
            }
            settle('push', answer);
            const code = answer.json?.error?.code;
            // The header is checked before the body is read: only a declared length (over the socket) or a
            // header that verifies lets the size answer first.
            const headerRefused = !['valid', 'bodyMismatch', 'replay'].includes(kind);
            if (byteLength(body) > MAX_BODY)
              expect(code).toBe(headerRefused && !overSocket ? FORGERIES[kind] : 'too_large');
            else if (kind !== 'valid') expect(code).toBe(FORGERIES[kind]);
            else {
              expect([200, 202, 400]).toContain(answer.status);
              if (answer.status === 202) {
                expect(answer.json.accepted).toEqual([]);
                for (const r of answer.json.rejected) expect(rejectReasons).toContain(r.reason);
              }
            }
          },
        ),
        { numRuns: FUZZ_RUNS },
      );
    },
    budgetMs(FUZZ_RUNS * 1.5),
  );

  it(
    'manifest (GET /): only a genuine signature gets the manifest; every forgery its code',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...forgeryKinds),
          fc.integer({ min: 0, max: 7 }),
          async (kind, transport) => {
            const signature = await signer.sign(kind, '');
            const headers: Record<string, string> =
              signature === undefined ? {} : { [SIGNATURE_HEADER]: signature };
            let answer = await send(transport === 0, 'GET', '/', headers);
            if (kind === 'replay') {
              settle('manifest', answer, 'GET');
              answer = await send(transport === 0, 'GET', '/', headers);
            }
            settle('manifest', answer, 'GET');
            if (kind === 'valid') expect(answer.json).toMatchObject({ name: NAME, slots: 4 });
            else expect(answer.json?.error?.code).toBe(FORGERIES[kind]);
          },
        ),
        { numRuns: FUZZ_RUNS },
      );
    },
    budgetMs(),
  );

  it(
    '/health, /metrics and every other route: any method, path, query and headers; no 5xx, documented codes',
    async () => {
      const path = fc.oneof(
        fc.constantFrom(
          '/health',
          '/metrics',
          '/',
          '/hatchet/health',
          '/hatchet/trigger',
          '/health/',
          '//health',
        ),
        fc.array(pathSegment, { minLength: 1, maxLength: 3 }).map((s) => `/${s.join('/')}`),
      );
      const query = fc.oneof(
        fc.constant(''),
        fc.array(pathSegment, { maxLength: 3 }).map((q) => `?${q.join('&')}`),
      );
      const header = fc.dictionary(
        fc.constantFrom(
          'content-type',
          'accept',
          'x-hatchet-signature',
          'x-hatchet-timestamp',
          'content-encoding',
          SIGNATURE_HEADER,
        ),
        fc.string({ maxLength: 60 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
          path,
          query,
          header,
          fc.option(fc.string({ maxLength: 100 })),
          fc.integer({ min: 0, max: 7 }),
          async (method, p, q, headers, body, transport) => {
            const withBody = method !== 'GET' && method !== 'HEAD' && body !== null;
            const answer = await send(
              transport === 0,
              method,
              `${p}${q}`,
              headers,
              withBody ? body : undefined,
            );
            settle('routes', answer, method);
            if (method === 'GET' && p === '/health' && q === '')
              expect(answer.json).toMatchObject({ name: NAME });
            if (method === 'GET' && p === '/metrics' && q === '')
              expect(answer.text).toContain('pushworker_slots_total');
          },
        ),
        { numRuns: FUZZ_RUNS },
      );
    },
    budgetMs(),
  );

  it(
    'Hatchet routes: unsigned, mis-signed, stale or hostile actions run nothing and answer their code',
    async () => {
      const actionShape = fc
        .tuple(
          shaped({
            actionId: fc.constantFrom('probe:probe', 'Probe:PROBE', 'nope:nope'),
            taskRunExternalId: hostileString,
            retryCount: fc.nat(),
            additionalMetadata: fc.oneof(
              hostileString,
              hostileValue.map((v) => JSON.stringify(v) ?? ''),
            ),
            actionPayload: fc.oneof(
              fc
                .record({ input: fc.oneof(hostileValue, fc.record({ key: hostileString })) })
                .map((v) => JSON.stringify(v)),
              hostileString,
            ),
          }),
          fc.boolean(),
        )
        .map(([fields, base]) =>
          base ? { ...assignedAction('probe', 'probe', { key: 'guess' }), ...fields } : fields,
        );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('/hatchet/trigger', '/hatchet/health'),
          bodyOf(actionShape),
          fc.constantFrom('valid', 'wrongSecret', 'missing', 'garbage'),
          fc.constantFrom<number | string | undefined>(undefined, 'now', -1_000, 1_000, 'soon', 'abc', ''),
          fc.integer({ min: 0, max: 7 }),
          async (path, body, signing, timestamp, transport) => {
            const text = typeof body === 'string' ? body : Buffer.from(body).toString('latin1');
            const now = Math.floor(Date.now() / 1000);
            const ts =
              timestamp === 'now' ? now : typeof timestamp === 'number' ? now + timestamp : undefined;
            const headers: Record<string, string> = {
              ...hatchetHeaders(text, {
                secret: signing === 'wrongSecret' ? `${HATCHET_SECRET}-x` : HATCHET_SECRET,
              }),
              ...(ts !== undefined ? { 'x-hatchet-timestamp': String(ts) } : {}),
              ...(typeof timestamp === 'string' && timestamp !== 'now'
                ? { 'x-hatchet-timestamp': timestamp }
                : {}),
            };
            if (signing === 'missing') delete headers['x-hatchet-signature'];
            if (signing === 'garbage') headers['x-hatchet-signature'] = 'ab'.repeat(32);
            // HMAC over the exact bytes: a binary body is signed as the bytes it is.
            if (signing === 'valid' && typeof body !== 'string') {
              headers['x-hatchet-signature'] = createHmac('sha256', HATCHET_SECRET)
                .update(body)
                .digest('hex');
            }
            const answer = await send(transport === 0, 'POST', path, headers, body);
            settle('hatchet', answer);
            const code = answer.json?.error?.code;
            // A missing signature is refused before the body is read, unless the length was declared.
            if (byteLength(body) > MAX_BODY)
              expect(code).toBe(signing === 'missing' && transport !== 0 ? 'bad_signature' : 'too_large');
            else if (signing !== 'valid') expect(code).toBe('bad_signature');
            else if (ts !== undefined && Math.abs(ts - now) > 300) expect(code).toBe('expired');
            else if (typeof timestamp === 'string' && timestamp !== 'now') expect(code).toBe('expired');
            else if (path === '/hatchet/trigger')
              expect(['invalid_request', 'unknown_action', 'invalid_input']).toContain(code);
            else expect(answer.status).toBe(200);
          },
        ),
        { numRuns: FUZZ_RUNS },
      );
    },
    budgetMs(),
  );
});
