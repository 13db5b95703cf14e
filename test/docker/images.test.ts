// The engine and example-worker images, built from the Dockerfile on a base the machine made itself, run for real:
// the engine on a volume and then on Postgres, a worker registered beside it, a drain on `docker stop`, and the
// runs kept across a restart of the engine's container. Skipped, with the reason, where no Docker daemon runs.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '../../adapters/node.ts';
import { tasks } from '../../examples/tasks.ts';
import { type Client, createClient } from '../../src/client/index.ts';
import { createWorker } from '../../src/index.ts';
import { freshSchemaUrl } from '../engine/support/postgres.ts';
import { until } from '../support/until.ts';

const exec = promisify(execFile);
const BASE = process.env.PUSHWORKER_DOCKER_BASE;
const TOKEN = `pwa_${randomBytes(18).toString('base64url')}`;
const id = randomBytes(4).toString('hex');
const names = {
  engineImage: `pushworker-engine:test-${id}`,
  workerImage: `pushworker-example-worker:test-${id}`,
  network: `pushworker-test-${id}`,
  volume: `pushworker-test-data-${id}`,
  engine: `pushworker-engine-${id}`,
  worker: `pushworker-worker-${id}`,
  pgEngine: `pushworker-pg-engine-${id}`,
  customImage: `pushworker-custom-worker:test-${id}`,
  custom: `pushworker-custom-worker-${id}`,
};

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await exec('docker', args, {
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 600_000,
  });
  return stdout.trim();
}

/** A container's output, its standard output and error together. */
async function logsOf(container: string): Promise<string> {
  const { stdout, stderr } = await exec('docker', ['logs', container], { maxBuffer: 64 * 1024 * 1024 });
  return stdout + stderr;
}

async function daemonAnswers(): Promise<string | undefined> {
  if (!BASE) return 'PUSHWORKER_DOCKER_BASE is not set (.ci/docker.sh builds the base image and sets it)';
  try {
    await docker('image', 'inspect', BASE);
    return undefined;
  } catch (error) {
    return `no Docker daemon with the image ${BASE}: ${String((error as Error).message).split('\n')[0]}`;
  }
}

const skipped = await daemonAnswers();
if (skipped) console.warn(`test/docker: skipped: ${skipped}`);

/** The host address Docker published a container's port at, read back from Docker. */
async function published(container: string, port: number): Promise<string> {
  const line = (await docker('port', container, String(port))).split('\n')[0]!;
  return `http://${line.replace('0.0.0.0', '127.0.0.1')}`;
}

async function healthy(url: string): Promise<boolean> {
  return fetch(`${url}/health`).then(
    (r) => r.ok,
    () => false,
  );
}

const exitCode = async (container: string) =>
  Number(await docker('inspect', '--format', '{{.State.ExitCode}}', container));

describe.skipIf(skipped)('the images', { timeout: 900_000 }, () => {
  let client: Client;
  let engineUrl: string;

  beforeAll(async () => {
    const common = ['build', '--network', 'host', '--build-arg', `BASE=${BASE}`];
    await docker(...common, '--target', 'engine', '-t', names.engineImage, '.');
    await docker(...common, '--target', 'example-worker', '-t', names.workerImage, '.');
    await docker('network', 'create', names.network);
  }, 900_000);

  afterAll(async () => {
    for (const container of [names.engine, names.worker, names.pgEngine, names.custom])
      await docker('rm', '-f', container).catch(() => '');
    await docker('network', 'rm', names.network).catch(() => '');
    await docker('volume', 'rm', '-f', names.volume).catch(() => '');
    await docker('image', 'rm', names.customImage, names.engineImage, names.workerImage).catch(() => '');
  }, 120_000);

  it('run as a user that is not root, and are of a size worth saying', async () => {
    for (const image of [names.engineImage, names.workerImage]) {
      expect(await docker('run', '--rm', '--entrypoint', 'id', image)).toMatch(/^uid=10001\(pushworker\)/);
      const bytes = Number(await docker('image', 'inspect', '--format', '{{.Size}}', image));
      console.info(`${image}: ${(bytes / 2 ** 20).toFixed(0)} MB (base ${BASE})`);
      expect(bytes).toBeGreaterThan(0);
    }
    const config = JSON.parse(
      await docker('image', 'inspect', '--format', '{{json .Config}}', names.engineImage),
    );
    expect(config.StopSignal).toBe('SIGTERM');
    expect(config.Healthcheck.Test.join(' ')).toContain('/health');
    expect(Object.keys(config.Volumes)).toEqual(['/data']);
  });

  it('run the engine on a volume and the worker beside it: echo completes', async () => {
    await docker(
      'run',
      '-d',
      '--name',
      names.engine,
      '--network',
      names.network,
      '-p',
      '127.0.0.1::7070',
      '-v',
      `${names.volume}:/data`,
      '-e',
      `PUSHWORKER_API_TOKEN=${TOKEN}`,
      '-e',
      `PUSHWORKER_PUBLIC_URL=http://${names.engine}:7070`,
      '-e',
      'PUSHWORKER_ALLOW_PRIVATE_TARGETS=true',
      names.engineImage,
    );
    engineUrl = await published(names.engine, 7070);
    await until(() => healthy(engineUrl), 'the engine container to answer /health', {
      timeoutMs: 120_000,
      everyMs: 250,
    });
    await until(
      async () =>
        (await docker('inspect', '--format', '{{.State.Health.Status}}', names.engine)) === 'healthy',
      "the engine's HEALTHCHECK to pass",
      { timeoutMs: 120_000, everyMs: 500 },
    );
    client = createClient({ url: engineUrl, token: TOKEN });
    const { token } = await client.createToken('worker', 'example-worker');
    await docker(
      'run',
      '-d',
      '--name',
      names.worker,
      '--network',
      names.network,
      '-e',
      `PUSHWORKER_TOKEN=${token}`,
      '-e',
      `PUSHWORKER_ENGINE_URL=http://${names.engine}:7070`,
      '-e',
      `PUSHWORKER_JWKS_URL=http://${names.engine}:7070/.well-known/jwks.json`,
      '-e',
      `PUSHWORKER_URL=http://${names.worker}:8080`,
      '-e',
      'PUSHWORKER_SHUTDOWN_GRACE_MS=25000',
      names.workerImage,
    );
    await until(
      async () =>
        (await client.listWorkers()).some((w) => w.name === 'example-worker' && w.state === 'ACTIVE'),
      'the worker container to register',
      { timeoutMs: 60_000, everyMs: 250 },
    );
    const { id: runId } = await client.enqueue({ task: 'echo', input: { message: 'from a container' } });
    const run = await client.waitRun(runId, { timeoutMs: 60_000 });
    expect(run.state).toBe('COMPLETED');
    expect(run.output).toEqual({ message: 'from a container' });
  });

  it("build a user's worker on the example-worker image, as the README shows", async () => {
    const readme = readFileSync('README.md', 'utf8');
    // The block sits in a list item: its lines are indented as the item is.
    const block = /( *)```dockerfile\n([\s\S]*?)\n *```/.exec(readme);
    const dockerfile = block?.[2]?.replace(new RegExp(`^${block[1]}`, 'gm'), '');
    expect(dockerfile).toBeDefined();
    const context = mkdtempSync(join(tmpdir(), 'pushworker-docker-'));
    try {
      mkdirSync(join(context, 'dist'));
      writeFileSync(
        join(context, 'dist/worker.js'),
        [
          "import { configFromEnv, createWorker, task } from 'pushworker';",
          "import { serve } from 'pushworker/node';",
          "import { z } from 'zod';",
          "const shout = task({ name: 'shout', input: z.object({ text: z.string() }), run: ({ text }) => ({ text: text.toUpperCase() }) });",
          'const config = configFromEnv(process.env);',
          "await serve(createWorker({ ...config, name: 'shout-worker', tasks: [shout] }), { port: 8080 });",
        ].join('\n'),
      );
      writeFileSync(
        join(context, 'Dockerfile'),
        dockerfile!.replace(/^FROM \S+/, `FROM ${names.workerImage}`),
      );
      await docker('build', '-t', names.customImage, context);
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
    const { token } = await client.createToken('worker', 'shout-worker');
    await docker(
      'run',
      '-d',
      '--name',
      names.custom,
      '--network',
      names.network,
      '-e',
      `PUSHWORKER_TOKEN=${token}`,
      '-e',
      `PUSHWORKER_ENGINE_URL=http://${names.engine}:7070`,
      '-e',
      `PUSHWORKER_JWKS_URL=http://${names.engine}:7070/.well-known/jwks.json`,
      '-e',
      `PUSHWORKER_URL=http://${names.custom}:8080`,
      names.customImage,
    );
    const { id: runId } = await client.enqueue({ task: 'shout', input: { text: 'quiet' } });
    const run = await client.waitRun(runId, { timeoutMs: 60_000 });
    expect(run.state).toBe('COMPLETED');
    expect(run.output).toEqual({ text: 'QUIET' });
    await docker('stop', '--time', '30', names.custom);
  });

  it('drain on docker stop: the run under way completes and the worker exits 0', async () => {
    const { id: runId } = await client.enqueue({ task: 'sleep', input: { ms: 3_000 } });
    await until(async () => (await client.getRun(runId)).state === 'RUNNING', 'the sleep to start', 30_000);
    await docker('stop', '--time', '30', names.worker);
    expect(await exitCode(names.worker)).toBe(0);
    expect((await client.getRun(runId)).state).toBe('COMPLETED');
    expect(await logsOf(names.worker)).toMatch(/shutting down gracefully/);
  });

  it('keep the runs on the volume when the engine container restarts', async () => {
    const before = await client.listRuns({ state: 'COMPLETED' });
    expect(before.runs.length).toBe(3);
    await docker('restart', '--time', '30', names.engine);
    engineUrl = await published(names.engine, 7070);
    await until(() => healthy(engineUrl), 'the restarted engine to answer', {
      timeoutMs: 120_000,
      everyMs: 250,
    });
    const after = await createClient({ url: engineUrl, token: TOKEN }).listRuns({ state: 'COMPLETED' });
    expect(after.runs.map((r) => r.id).sort()).toEqual(before.runs.map((r) => r.id).sort());
    await docker('stop', '--time', '30', names.engine);
    expect(await exitCode(names.engine)).toBe(0);
  });

  it.skipIf(!process.env.PUSHWORKER_TEST_DATABASE_URL)('run the engine on Postgres', async () => {
    // On the host's network: the test's Postgres listens on loopback, and the engine binds a free port.
    await docker(
      'run',
      '-d',
      '--name',
      names.pgEngine,
      '--network',
      'host',
      '-e',
      `DATABASE_URL=${await freshSchemaUrl(process.env.PUSHWORKER_TEST_DATABASE_URL!, `docker_${id}`)}`,
      '-e',
      `PUSHWORKER_API_TOKEN=${TOKEN}`,
      '-e',
      'PUSHWORKER_ALLOW_PRIVATE_TARGETS=true',
      names.engineImage,
      '--port',
      '0',
      '--host',
      '127.0.0.1',
    );
    const url = await until(
      async () =>
        /engine listening on (http:\/\/\S+) \(store: postgres\)/.exec(await logsOf(names.pgEngine))?.[1],
      'the engine on Postgres to listen',
      { timeoutMs: 120_000, everyMs: 250 },
    );
    const pg = createClient({ url, token: TOKEN });
    // A serverless worker on the host, registered by URL: the engine pulls its manifest and pushes to it.
    const worker = createWorker({
      name: `pg-worker-${id}`,
      tasks,
      mode: 'sync',
      keys: { jwksUrl: `${url}/.well-known/jwks.json`, jwksCooldownMs: 0 },
      logLevel: 'silent',
    });
    const served = await serve(worker, {
      port: 0,
      hostname: '127.0.0.1',
      start: false,
      handleSignals: false,
    });
    try {
      await pg.registerWorker(served.url, `pg-worker-${id}`);
      const { id: runId } = await pg.enqueue({ task: 'echo', input: { message: 'on postgres' } });
      const run = await pg.waitRun(runId, { timeoutMs: 60_000 });
      expect(run.state).toBe('COMPLETED');
      expect(run.output).toEqual({ message: 'on postgres' });
    } finally {
      await served.close();
      await docker('stop', '--time', '30', names.pgEngine);
    }
    expect(await exitCode(names.pgEngine)).toBe(0);
  });
});
