// Worker URLs that lead to private addresses are refused unless allowPrivateTargets: when registered (by URL, or
// by a worker token), and again when a push connects, so that a name re-pointed later does not get through.
import type { LookupAddress } from 'node:dns';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { engineConfigFromEnv } from '../../src/engine/config.ts';
import { Outbound } from '../../src/engine/outbound/client.ts';
import { PrivateTarget } from '../../src/engine/outbound/failures.ts';
import { isPrivateAddress } from '../../src/engine/outbound/private-addresses.ts';
import { checkTarget, publicOnlyLookup } from '../../src/engine/outbound/public-targets.ts';
import { upsertWorker } from '../../src/engine/store/workers.ts';
import type { Registration } from '../../src/protocol/schemas.ts';
import { API_TOKEN, type Harness, harnessPerTest, until } from '../support/engine.ts';
import { type HostileServer, hostileServer } from '../support/hostile.ts';

const harness = harnessPerTest();
const servers: HostileServer[] = [];
let h: Harness;

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A server on loopback that answers every request 200 with `{}`, and records them. */
async function listening(): Promise<HostileServer> {
  const server = await hostileServer((_req, res) => res.writeHead(200).end('{}'));
  servers.push(server);
  return server;
}

function manifest(name: string, url: string): Registration & { url: string } {
  const echo = { name: 'echo', inputSchema: {}, timeoutMs: 60_000, retries: 0, slotCost: 1 };
  return { name, url, slots: 1, labels: {}, tasks: [echo] };
}

async function registerByUrl(url: string, name?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${h.url}/v1/workers/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url, ...(name ? { name } : {}) }),
  });
  return { status: res.status, body: await res.json() };
}

const SETTING = 'PUSHWORKER_ALLOW_PRIVATE_TARGETS=true';

describe('registration of private targets', () => {
  it('refuses loopback, private, link-local and metadata addresses on both routes when not allowed', async () => {
    h = await harness.start({ allowPrivateTargets: false });
    const live = await listening();
    const port = new URL(live.url).port;
    const { token } = await h.engine.createToken('worker', 'w');
    const targets = [
      [`http://127.0.0.1:${port}`, '127.0.0.1 is a private address'],
      [`http://[::1]:${port}/`, '::1 is a private address'],
      ['http://10.1.2.3/', '10.1.2.3 is a private address'],
      ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is a private address'],
      [`http://[::ffff:127.0.0.1]:${port}/`, '::ffff:7f00:1 is a private address'],
      ['http://[fd12::1]/', 'fd12::1 is a private address'],
      ['http://100.64.0.1/', '100.64.0.1 is a private address'],
      [`http://0.0.0.0:${port}/`, '0.0.0.0 is a private address'],
      [`http://localhost:${port}/`, /^localhost resolves to (127\.0\.0\.1|::1), a private address$/],
    ] as const;
    for (const [url, what] of targets) {
      for (const answer of [
        await registerByUrl(url, 'w'),
        await registerByUrl(url),
        await h.asWorker(token).register(manifest('w', url)),
      ]) {
        expect(answer.status, url).toBe(422);
        expect(answer.body.error.code, url).toBe('forbidden_target');
        const message: string = answer.body.error.message;
        const [prefix, reason] = message.split(' is refused: ');
        expect(prefix, message).toBe(`the worker URL ${url}`);
        const [said, setting] = reason!.split('; ');
        expect(said).toMatch(what);
        expect(setting).toBe(
          `the engine reaches only public addresses unless ${SETTING} (allowPrivateTargets)`,
        );
      }
    }
    expect(live.requests).toEqual([]);
    expect(await h.client.listWorkers()).toEqual([]);
  });

  it('registers the same loopback targets when allowed', async () => {
    h = await harness.start({ allowPrivateTargets: true });
    const worker = await h.addWorker('by-url', { start: false, mode: 'sync' });
    const local = worker.url.replace('127.0.0.1', 'localhost');
    expect((await registerByUrl(local)).body).toMatchObject({ name: 'by-url', url: local, state: 'ACTIVE' });
    const { token } = await h.engine.createToken('worker', 'w');
    expect(await h.asWorker(token).register(manifest('w', 'http://10.1.2.3/'))).toMatchObject({
      status: 200,
    });
  });

  it('refuses a URL that is not http(s), and a host that does not resolve, with invalid_request', async () => {
    h = await harness.start({ allowPrivateTargets: false });
    const { token } = await h.engine.createToken('worker', 'w');
    const ftp = await h.asWorker(token).register(manifest('w', 'ftp://example.com/'));
    expect(ftp).toEqual({
      status: 400,
      body: { error: { code: 'invalid_request', message: 'a worker URL must be http or https, not ftp:' } },
    });
    const nowhere = await registerByUrl('http://nowhere.invalid/', 'w');
    expect(nowhere.status).toBe(400);
    expect(nowhere.body.error.message).toMatch(
      /^the worker URL's host nowhere\.invalid does not resolve \((ENOTFOUND|EAI_AGAIN)\)$/,
    );
    expect(await h.client.listWorkers()).toEqual([]);
  });

  it('gives a name that takes too long to resolve invalid_request when its deadline passes', async () => {
    const hanging = () => new Promise<never>(() => {});
    const refusal = await checkTarget('http://slow.example/', false, { timeoutMs: 50, lookup: hanging }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toMatchObject({
      code: 'invalid_request',
      message: "the worker URL's host slow.example did not resolve within 50 ms",
    });
    const answered = async () => [{ address: '93.184.215.14', family: 4 }];
    await expect(
      checkTarget('http://fast.example/', false, { timeoutMs: 50, lookup: answered }),
    ).resolves.toBe(undefined);
  });
});

describe('pushes to private targets', () => {
  it('refuses at connect time a push to a stored URL that leads to loopback, and says why', async () => {
    h = await harness.start({ allowPrivateTargets: false, maxDeliveries: 1 });
    const live = await listening();
    // As if the name had resolved publicly at registration and was re-pointed at loopback since.
    const urls = [live.url, live.url.replace('127.0.0.1', 'localhost')];
    for (const [i, url] of urls.entries()) {
      await upsertWorker(h.engine.sql, manifest(`w${i}`, url), 'registered', Date.now());
      const { id } = await h.client.enqueue({ task: 'echo', input: {} });
      const failed = await until(async () => {
        const run = await h.client.getRun(id);
        return run.state === 'FAILED' && run;
      }, 'the push to be refused');
      const refused = i === 0 ? '127.0.0.1 is a private address' : 'localhost resolves to';
      expect(failed.error?.message).toContain(`push failed: ${url} refused: ${refused}`);
      await h.client.pauseWorker((await h.client.listWorkers()).find((w) => w.name === `w${i}`)!.id);
    }
    expect(live.requests).toEqual([]);
  });

  it('connects the client only to public addresses unless allowed', async () => {
    const live = await listening();
    const refused = new Outbound({ allowPrivateTargets: false, maxAnswerBytes: 1024 });
    const allowed = new Outbound({ allowPrivateTargets: true, maxAnswerBytes: 1024 });
    try {
      for (const url of [live.url, live.url.replace('127.0.0.1', 'localhost')]) {
        const error = await refused.call(url, { method: 'GET', deadlineMs: 5_000 }).catch((e) => e);
        expect(error, url).toBeInstanceOf(PrivateTarget);
      }
      expect(live.requests).toEqual([]);
      expect(await allowed.call(live.url, { method: 'GET', deadlineMs: 5_000 })).toMatchObject({
        status: 200,
        text: '{}',
      });
    } finally {
      await refused.close();
      await allowed.close();
    }
  });

  it('resolves names with the real resolver and drops private addresses, one or all', async () => {
    const lookup = (all: boolean) =>
      new Promise<{ error: unknown; address: unknown }>((resolve) =>
        publicOnlyLookup('localhost', { all }, (error, address) => resolve({ error, address })),
      );
    for (const all of [true, false]) {
      const { error } = await lookup(all);
      expect(error).toBeInstanceOf(PrivateTarget);
      expect((error as PrivateTarget).host).toBe('localhost');
      expect(isPrivateAddress((error as PrivateTarget).address)).toBe(true);
    }
    const unresolved = await new Promise<unknown>((resolve) =>
      publicOnlyLookup('nowhere.invalid', { all: true }, (error: unknown, _a: LookupAddress[] | string) =>
        resolve(error),
      ),
    );
    expect((unresolved as { code?: string }).code).toMatch(/ENOTFOUND|EAI_AGAIN/);
  });
});

describe('private address ranges', () => {
  it('classes addresses, IPv4-mapped IPv6 forms included', () => {
    const private_ = [
      '127.0.0.1',
      '127.255.255.254',
      '10.0.0.1',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '100.127.255.255',
      '0.0.0.0',
      '255.255.255.255',
      '224.0.0.1',
      '::',
      '::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:169.254.169.254',
      '::ffff:10.0.0.1',
      '::127.0.0.1',
      'fc00::1',
      'fd00:ec2::254',
      'fe80::1',
      'ff02::1',
      '2002:7f00:1::1',
      '64:ff9b:1::a00:1',
      'not an address',
    ];
    const public_ = [
      '8.8.8.8',
      '1.1.1.1',
      '172.32.0.1',
      '100.128.0.1',
      '169.255.0.1',
      '::ffff:8.8.8.8',
      '2606:4700:4700::1111',
      '2a00:1450:4001::1',
    ];
    expect(private_.filter((a) => !isPrivateAddress(a))).toEqual([]);
    expect(public_.filter((a) => isPrivateAddress(a))).toEqual([]);
  });

  it('refuses every address of the private ranges, plain and IPv4-mapped, as a URL host', async () => {
    const octet = fc.integer({ min: 0, max: 255 });
    const v4 = fc.oneof(
      fc.tuple(octet, octet, octet).map(([b, c, d]) => `10.${b}.${c}.${d}`),
      fc.tuple(octet, octet, octet).map(([b, c, d]) => `127.${b}.${c}.${d}`),
      fc.tuple(fc.integer({ min: 16, max: 31 }), octet, octet).map(([b, c, d]) => `172.${b}.${c}.${d}`),
      fc.tuple(octet, octet).map(([c, d]) => `192.168.${c}.${d}`),
      fc.tuple(octet, octet).map(([c, d]) => `169.254.${c}.${d}`),
      fc.tuple(fc.integer({ min: 64, max: 127 }), octet, octet).map(([b, c, d]) => `100.${b}.${c}.${d}`),
    );
    const host = fc.oneof(
      v4,
      v4.map((a) => `[::ffff:${a}]`),
      fc
        .tuple(fc.integer({ min: 0xfc00, max: 0xfdff }), fc.integer({ min: 0, max: 0xffff }))
        .map(([a, b]) => `[${a.toString(16)}::${b.toString(16)}]`),
      fc.integer({ min: 0xfe80, max: 0xfebf }).map((a) => `[${a.toString(16)}::1]`),
    );
    await fc.assert(
      fc.asyncProperty(host, fc.integer({ min: 1, max: 65535 }), async (address, port) => {
        const error = await checkTarget(`http://${address}:${port}/`, false).catch((e) => e);
        expect(error?.code, address).toBe('forbidden_target');
        expect(error?.status).toBe(422);
      }),
    );
  });
});

describe('settings', () => {
  it('reads the outbound settings from the environment, with their defaults', () => {
    expect(engineConfigFromEnv({})).toMatchObject({
      allowPrivateTargets: false,
      maxAnswerBytes: 4 * 1024 * 1024,
      outboundTimeoutMs: 10_000,
      pushTimeoutMs: 900_000,
    });
    expect(
      engineConfigFromEnv({
        PUSHWORKER_ALLOW_PRIVATE_TARGETS: 'true',
        PUSHWORKER_MAX_ANSWER_BYTES: '65536',
        PUSHWORKER_OUTBOUND_TIMEOUT_MS: '2500',
      }),
    ).toMatchObject({ allowPrivateTargets: true, maxAnswerBytes: 65536, outboundTimeoutMs: 2500 });
    expect(engineConfigFromEnv({ PUSHWORKER_ALLOW_PRIVATE_TARGETS: 'false' }).allowPrivateTargets).toBe(
      false,
    );
    expect(() => engineConfigFromEnv({ PUSHWORKER_ALLOW_PRIVATE_TARGETS: 'maybe' })).toThrow(
      expect.objectContaining({
        code: 'invalid_request',
        message: expect.stringMatching(/^invalid engine configuration: PUSHWORKER_ALLOW_PRIVATE_TARGETS: /),
      }),
    );
    expect(() => engineConfigFromEnv({ PUSHWORKER_MAX_ANSWER_BYTES: '0' })).toThrow();
  });
});
