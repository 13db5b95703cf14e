import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.ts';
import { stopProcess } from '../support/process.ts';
import { until } from '../support/until.ts';

const workerSource = (version: string) => `
import { z } from 'zod';
import { serve } from '../adapters/node.ts';
import { configFromEnv, createWorker, task } from '../src/index.ts';

const version = task({ name: 'version', input: z.object({}), run: () => ({ version: '${version}' }) });
const config = configFromEnv(process.env);
await serve(createWorker({ ...config, name: config.name ?? 'dev-worker', tasks: [version] }), {
  port: Number(process.env.PORT),
});
`;

describe('pushworker dev', () => {
  let dev: ChildProcess | undefined;
  afterAll(() => stopProcess(dev));

  it('runs engine and worker side by side and reloads the worker when its code changes', async () => {
    mkdirSync('test-artifacts', { recursive: true });
    const file = join('test-artifacts', `dev-worker-${process.pid}.ts`);
    writeFileSync(file, workerSource('v1'));
    // Port 0: the engine binds a free port and says which.
    dev = spawn(
      process.execPath,
      [
        'bin/pushworker.mjs',
        'dev',
        file,
        '--name',
        'dev-worker',
        '--port',
        '0',
        '--data-dir',
        mkdtempSync(join(tmpdir(), 'pw-dev-')),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    dev.stdout!.on('data', (d) => {
      output += d;
    });
    const waitFor = <T>(check: () => T | Promise<T>, what: string) =>
      until(check, what, { timeoutMs: 30_000, everyMs: 100, detail: () => `output:\n${output}` });
    const token = await waitFor(() => /API token: (\S+)/.exec(output)?.[1], 'the API token');
    const url = await waitFor(() => /engine listening on (\S+)/.exec(output)?.[1], 'the engine URL');
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    const client = createClient({ url, token });
    await waitFor(async () => (await client.listWorkers()).some((w) => w.state === 'ACTIVE'), 'the worker');
    await waitFor(() => /\[worker\] .*registered with the engine/.test(output), 'the registration log line');
    expect(output).toMatch(/\[worker\] .*'dev-worker' waiting for \['version'\]/);

    const run = async () =>
      (await client.waitRun((await client.enqueue({ task: 'version', input: {} })).id)).output;
    expect(await run()).toEqual({ version: 'v1' });

    writeFileSync(file, workerSource('v2'));
    await waitFor(async () => ((await run()) as { version: string }).version === 'v2', 'the reloaded worker');
    expect(output).toMatch(/Restarting/);
  });
});
