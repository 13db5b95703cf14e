// The URL a served worker registers when none is configured: its bound address on loopback, nothing otherwise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '../../adapters/node.ts';
import { tasks } from '../../examples/tasks.ts';
import { createWorker } from '../../src/index.ts';
import { type Sink, startSink } from '../support/sink.ts';
import { until } from '../support/until.ts';

let sink: Sink;
beforeAll(async () => {
  sink = await startSink();
});
afterAll(() => sink.close());

async function registeredUrl(o: {
  hostname: string;
  url?: string;
}): Promise<{ url: unknown; bound: string }> {
  const before = sink.registrations.length;
  const worker = createWorker({
    name: 'served',
    tasks,
    engineUrl: sink.url,
    token: 'pww_t',
    keys: { secret: 'x'.repeat(32) },
    logLevel: 'silent',
    ...(o.url ? { url: o.url } : {}),
  });
  const served = await serve(worker, { port: 0, hostname: o.hostname, handleSignals: false });
  try {
    await until(() => sink.registrations.length > before, 'the registration', { timeoutMs: 10_000 });
    return { url: (sink.registrations[before] as { url?: string }).url, bound: served.url };
  } finally {
    await served.close();
  }
}

describe('the URL a served worker registers', () => {
  it('is its bound address on loopback, port 0 included, when none is configured', async () => {
    const { url, bound } = await registeredUrl({ hostname: '127.0.0.1' });
    expect(bound).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    expect(url).toBe(bound);
  });

  it('is the configured one when there is one', async () => {
    const { url } = await registeredUrl({ hostname: '127.0.0.1', url: 'https://worker.example.com/' });
    expect(url).toBe('https://worker.example.com/');
  });

  it('is none on every interface, where the bound address says nothing of how others reach it', async () => {
    const { url } = await registeredUrl({ hostname: '0.0.0.0' });
    expect(url).toBeUndefined();
  });
});
