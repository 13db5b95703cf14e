// `pushworker dev` as a user meets it: their exported API token, a hint with their own task, a word when the
// file serves no worker, and a run in flight across a reload that goes on instead of failing.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.ts';
import { stopProcess } from '../support/process.ts';
import { until } from '../support/until.ts';

const TOKEN = 'pwa_dev-hints-exported-token-0123456789';

const servingWorker = (version: string) => `
import { z } from 'zod';
import { serve } from '../adapters/node.ts';
import { configFromEnv, createWorker, task } from '../src/index.ts';

const greet = task({ name: 'greet', input: z.object({}), run: () => ({ version: '${version}' }) });
const nap = task({
  name: 'nap',
  input: z.object({}),
  run: (_input, ctx) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve({ version: '${version}' }), ${version === 'v1' ? 600_000 : 10});
    ctx.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(ctx.signal.reason);
    });
  }),
});
const config = configFromEnv(process.env);
await serve(createWorker({ ...config, name: config.name ?? 'example-worker', tasks: [greet, nap] }), {
  port: Number(process.env.PORT),
});
`;

const tasksOnly = `
import { z } from 'zod';
import { task } from '../src/index.ts';
export const greet = task({ name: 'greet', input: z.object({}), run: () => 'hi' });
`;

let dev: ChildProcess | undefined;
afterEach(() => stopProcess(dev));

function startDev(source: string, env: Record<string, string> = {}) {
  mkdirSync('test-artifacts', { recursive: true });
  const file = join('test-artifacts', `dev-hints-${process.pid}-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(file, source);
  const args = [
    'bin/pushworker.mjs',
    'dev',
    file,
    '--port',
    '0',
    '--data-dir',
    mkdtempSync(join(tmpdir(), 'pw-')),
  ];
  dev = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const seen = { output: '' };
  dev.stdout!.on('data', (d) => {
    seen.output += d;
  });
  const waitFor = <T>(check: () => T | Promise<T>, what: string, timeoutMs = 30_000) =>
    until(check, what, { timeoutMs, everyMs: 100, detail: () => `output:\n${seen.output}` });
  return { file, seen, waitFor };
}

describe('pushworker dev', () => {
  it('takes the exported API token, names the tasks that registered and keeps a run across a reload', async () => {
    const { file, seen, waitFor } = startDev(servingWorker('v1'), { PUSHWORKER_API_TOKEN: TOKEN });
    const url = await waitFor(() => /engine listening on (\S+)/.exec(seen.output)?.[1], 'the engine URL');
    await waitFor(() => seen.output.includes(`/dashboard#token=${TOKEN}`), 'the dashboard line');
    expect(seen.output).toContain('API token: (your PUSHWORKER_API_TOKEN)');
    await waitFor(() => seen.output.includes('registered with tasks: greet, nap'), 'the tasks line');
    // The hint follows the tasks line, in a write of its own that may arrive a moment later.
    await waitFor(
      () => /try: npx pushworker run greet --url http:\/\/127\.0\.0\.1:\d+ --input/.test(seen.output),
      'the try line',
    );

    const client = createClient({ url, token: TOKEN });
    const { id } = await client.enqueue({ task: 'nap', input: {} });
    await waitFor(async () => (await client.getRun(id)).state === 'RUNNING', 'the nap to run');
    writeFileSync(file, servingWorker('v2'));
    const done = await client.waitRun(id, { timeoutMs: 30_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', output: { version: 'v2' }, failures: 0, attempt: 2 });
    const { attempts } = await client.getRun(id);
    expect(attempts[0]).toMatchObject({ outcome: 'requeued', error: { name: 'WorkerShutdown' } });
    // A line per run at info, and no heartbeat chatter at debug.
    await waitFor(() => seen.output.includes(`run completed task=nap runId=${id} attempt=2`), 'the run line');
    expect(seen.output).not.toMatch(/\[DEBUG\]/);
  });

  it('says so when the file serves no worker', { timeout: 60_000 }, async () => {
    const { seen, waitFor } = startDev(tasksOnly);
    await waitFor(
      () => seen.output.includes('no worker named example-worker has registered from'),
      'the hint that nothing registered',
      40_000,
    );
    expect(seen.output).toMatch(/serve\(createWorker/);
  });
});
