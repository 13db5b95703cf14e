import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.ts';

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
  afterAll(async () => {
    if (dev && dev.exitCode === null) {
      const exited = new Promise((r) => dev!.once('exit', r));
      dev.kill('SIGINT');
      await exited;
    }
  });

  it('runs engine and worker side by side and reloads the worker when its code changes', async () => {
    mkdirSync('test-artifacts', { recursive: true });
    const file = join('test-artifacts', `dev-worker-${process.pid}.ts`);
    writeFileSync(file, workerSource('v1'));
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    dev = spawn(
      process.execPath,
      [
        'bin/pushworker.mjs',
        'dev',
        file,
        '--name',
        'dev-worker',
        '--port',
        String(port),
        '--data-dir',
        mkdtempSync(join(tmpdir(), 'pw-dev-')),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    dev.stdout!.on('data', (d) => {
      output += d;
    });
    const until = async (predicate: () => boolean | Promise<boolean>, what: string) => {
      const deadline = Date.now() + 30_000;
      while (!(await predicate())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await until(() => /API token: (\S+)/.test(output), 'the API token');
    const client = createClient({
      url: `http://127.0.0.1:${port}`,
      token: /API token: (\S+)/.exec(output)![1]!,
    });
    await until(async () => (await client.listWorkers()).some((w) => w.state === 'ACTIVE'), 'the worker');
    await until(() => /\[worker\] .*registered with the engine/.test(output), 'the registration log line');
    expect(output).toMatch(/\[worker\] .*'dev-worker' waiting for \['version'\]/);

    const run = async () =>
      (await client.waitRun((await client.enqueue({ task: 'version', input: {} })).id)).output;
    expect(await run()).toEqual({ version: 'v1' });

    writeFileSync(file, workerSource('v2'));
    await until(async () => ((await run()) as { version: string }).version === 'v2', 'the reloaded worker');
    expect(output).toMatch(/Restarting/);
  });
});
