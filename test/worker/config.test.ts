import { describe, expect, it } from 'vitest';
import { tasks } from '../../examples/tasks.ts';
import { configFromEnv, createWorker, PushworkerError } from '../../src/index.ts';
import { assignedAction, HATCHET_SECRET, hatchetHeaders } from '../support/hatchet.ts';

describe('configuration from the environment', () => {
  it('reads every PUSHWORKER_ and HATCHET_ variable into worker options', () => {
    const config = configFromEnv({
      PUSHWORKER_NAME: 'w',
      PUSHWORKER_SLOTS: '7',
      PUSHWORKER_LABELS: 'gpu=a100, region=eu',
      PUSHWORKER_SECRET: 'new',
      PUSHWORKER_SECRET_PREVIOUS: 'old',
      PUSHWORKER_ENGINE_URL: 'http://127.0.0.1:7070',
      PUSHWORKER_HEARTBEAT_MS: '250',
      PUSHWORKER_MODE: 'sync',
      PUSHWORKER_TRACING: 'true',
      HATCHET_SIGNING_SECRET: HATCHET_SECRET,
      HATCHET_NAMESPACE: 'dev_',
      UNRELATED: 'ignored',
    });
    expect(config).toMatchObject({
      name: 'w',
      slots: 7,
      labels: { gpu: 'a100', region: 'eu' },
      keys: { secret: ['new', 'old'] },
      engineUrl: 'http://127.0.0.1:7070',
      heartbeatMs: 250,
      mode: 'sync',
      tracing: true,
      hatchet: { signingSecret: HATCHET_SECRET, namespace: 'dev_' },
    });
    expect(configFromEnv({ PUSHWORKER_LABELS: '{"tier":"gold","n":3}' }).labels).toEqual({
      tier: 'gold',
      n: '3',
    });
  });

  it('refuses bad values with one invalid_request error naming each variable', () => {
    try {
      configFromEnv({
        PUSHWORKER_SLOTS: 'many',
        PUSHWORKER_ENGINE_URL: 'not a url',
        HATCHET_SIGNING_SECRET: 'short',
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PushworkerError);
      expect((error as PushworkerError).code).toBe('invalid_request');
      for (const name of ['PUSHWORKER_SLOTS', 'PUSHWORKER_ENGINE_URL', 'HATCHET_SIGNING_SECRET']) {
        expect((error as Error).message).toContain(name);
      }
    }
    expect(() => configFromEnv({ PUSHWORKER_LABELS: '{oops' })).toThrow(PushworkerError);
  });

  it('needs keys unless the endpoint serves only the Hatchet protocol', async () => {
    expect(() => createWorker({ name: 'w', tasks, ...configFromEnv({}) })).toThrow(/PUSHWORKER_SECRET/);
    const worker = createWorker({
      name: 'w',
      tasks,
      logLevel: 'silent',
      ...configFromEnv({ HATCHET_SIGNING_SECRET: HATCHET_SECRET }),
    });
    const body = JSON.stringify(assignedAction('echo', 'echo', { message: 'only hatchet' }));
    const ok = await worker.fetch(
      new Request('http://w/hatchet/trigger', { method: 'POST', headers: hatchetHeaders(body), body }),
    );
    expect(await ok.json()).toEqual({ message: 'only hatchet' });
    const push = await worker.fetch(new Request('http://w/', { method: 'POST', body: '{}' }));
    expect(push.status).toBe(404);
  });
});
