// The packed tarball as users get it: installed from the registry into fresh projects outside the repository.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../support/until.ts';
import { consumerProject, REPO, run, tarball, versionOf } from './consumer.ts';

const INSTALL_TIMEOUT = 300_000;
const zod = `zod@${versionOf('zod')}`;
const enginePeers = ['@electric-sql/pglite', '@hono/node-server', 'undici'].map(
  (name) => `${name}@${versionOf(name)}`,
);

const ECHO_TASK = `
export const echo = task({
  name: 'echo',
  input: z.object({ message: z.string() }),
  run: ({ message }) => ({ shout: message.toUpperCase(), order: { z: 1, a: 2 } }),
});
`;

/**
 * The whole way round on plain Node: an engine on the embedded store, a worker on loopback registered by its URL,
 * and a run enqueued and read with the client.
 */
const ROUND_TRIP = `
import { z } from 'zod';
import { createWorker, task } from 'pushworker';
import { createClient } from 'pushworker/client';
import { createEngine, serveEngine } from 'pushworker/engine';
import { serve } from 'pushworker/node';
${ECHO_TASK}
const apiToken = 'pwa_consumer-test-token-0123456789';
const engine = await createEngine({ apiTokens: [apiToken], allowPrivateTargets: true });
const served = await serveEngine(engine, { port: 0, hostname: '127.0.0.1' });
const { token } = await engine.createToken('worker', 'consumer');
const worker = createWorker({
  name: 'consumer',
  tasks: [echo],
  engineUrl: served.url,
  token,
  keys: { jwksUrl: served.url + '/.well-known/jwks.json' },
  logLevel: 'silent',
});
const server = await serve(worker, { port: 0, hostname: '127.0.0.1', handleSignals: false, start: false });
await engine.registerUrl(server.url, 'consumer');
const client = createClient({ url: served.url, token: apiToken });
const { id } = await client.enqueue({
  task: 'echo',
  input: { message: 'hello' },
  // A caller's trace, passed through to the worker by an engine that does not trace.
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
});
const done = await client.waitRun(id, { timeoutMs: 60_000 });
console.log(JSON.stringify({ state: done.state, output: done.output }));
await server.close();
await served.close();
`;

const EVERY_SUBPATH = `
import { z } from 'zod';
import { createWorker, NonRetryableError, task, type TaskContext, type Worker } from 'pushworker';
import { createClient, type RunView } from 'pushworker/client';
import { moduleWorker, ReplayGuard } from 'pushworker/cloudflare';
import { createEngine, type Engine, type EngineOptions, serveEngine } from 'pushworker/engine';
import { handle } from 'pushworker/lambda';
import { requestListener, serve, useNodePlatform } from 'pushworker/node';
import { ApiScope, type ErrorCode, PROTOCOL_VERSION, PushBody, RunEvent, scopeAllows } from 'pushworker/protocol';

export const echo = task({
  name: 'echo',
  input: z.object({ message: z.string() }),
  run: ({ message }: { message: string }, ctx: TaskContext) => {
    ctx.log.info('echo');
    if (!message) throw new NonRetryableError('empty');
    return { message };
  },
});
const worker: Worker = createWorker({ name: 'types', tasks: [echo], keys: { secret: 'x'.repeat(32) }, mode: 'sync' });
const lambda: (event: never, context: never) => Promise<unknown> = handle(worker);
const cloudflare = moduleWorker({ name: 'types', tasks: [echo] });
const client = createClient({ url: 'http://127.0.0.1:7070', token: 'pwa_x' });
useNodePlatform(worker);
const options: EngineOptions = { apiTokens: ['pwa_x'] };
export async function use(engine: Engine): Promise<RunView> {
  await serveEngine(engine, { port: 0 });
  return client.getRun('run');
}
const code: ErrorCode = 'bad_signature';
const event: RunEvent = RunEvent.parse({});
const body: PushBody = PushBody.parse({});
const scope: ApiScope = ApiScope.parse('read');
const readAllowsAdmin: boolean = scopeAllows(scope, 'admin');
export const all = [lambda, cloudflare, options, code, event, body, PROTOCOL_VERSION, createEngine, serve,
  requestListener, ReplayGuard, readAllowsAdmin];
`;

const CLOUDFLARE_WORKER = `
import { z } from 'zod';
import { task } from 'pushworker';
import { moduleWorker } from 'pushworker/cloudflare';
${ECHO_TASK}
export default moduleWorker({ name: 'edge', tasks: [echo] });
`;

const LAMBDA_HANDLER = `
import { z } from 'zod';
import { createWorker, signingKeyFromSecret, signPush, task } from 'pushworker';
import { handle } from 'pushworker/lambda';
${ECHO_TASK}
export const secret = 'a-lambda-secret-of-at-least-32-characters';
export const signingKey = () => signingKeyFromSecret(secret);
export { signPush };
const worker = createWorker({ name: 'lambda', tasks: [echo], keys: { secret }, mode: 'sync', logLevel: 'silent' });
export const handler = handle(worker);
`;

/** API Gateway HTTP API (payload format 2.0), as AWS documents the event. */
const INVOKE_LAMBDA = `
import { handler, signingKey, signPush } from './out/handler.mjs';
const body = JSON.stringify({ v: 1, assignments: [{ runId: 'r1', attempt: 1, task: 'echo', input: { message: 'hi' } }] });
const signature = await signPush({ key: await signingKey(), issuer: 'consumer-test', audience: 'lambda', body });
const event = {
  version: '2.0', routeKey: '$default', rawPath: '/', rawQueryString: '', cookies: [],
  headers: { 'content-type': 'application/json', 'pushworker-signature': signature, host: 'fn.example' },
  requestContext: {
    accountId: '123456789012', apiId: 'api', domainName: 'fn.example', domainPrefix: 'fn', requestId: 'id',
    routeKey: '$default', stage: '$default', time: '01/Dec/2026:00:00:00 +0000', timeEpoch: 0,
    http: { method: 'POST', path: '/', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
  },
  body, isBase64Encoded: false,
};
const result = await handler(event, { getRemainingTimeInMillis: () => 30_000 });
console.log(JSON.stringify({ statusCode: result.statusCode, body: JSON.parse(result.body) }));
`;

describe('the packed tarball', () => {
  it('holds the compiled package and nothing of the repository’s tests, benchmarks, soak or CI', async () => {
    const listed = await run('tar', ['-tzf', await tarball()], REPO);
    const files = listed.stdout.trim().split('\n');
    expect(files).toContain('package/dist/src/index.js');
    expect(files).toContain('package/dist/src/index.d.ts');
    expect(files).toContain('package/dist/src/engine/store/pglite-thread.js');
    expect(files).toContain('package/LICENSE');
    expect(files).toContain('package/docs/protocol.md');
    const stray = files.filter((f) => /^package\/(test|bench|soak|\.ci|src|adapters|examples)\//.test(f));
    expect(stray).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('passes publint, warnings included', async () => {
    const out = await run(
      join(REPO, 'node_modules/.bin/publint'),
      ['run', await tarball(), '--strict'],
      REPO,
    );
    expect(out.stdout).toContain('All good!');
    expect(out.code).toBe(0);
  });

  it('passes are-the-types-wrong for an ESM-only package', async () => {
    const attw = join(REPO, 'node_modules/.bin/attw');
    const out = await run(attw, ['--profile', 'esm-only', '--format', 'json', await tarball()], REPO);
    const { problems } = JSON.parse(out.stdout) as {
      problems: Record<string, { resolutionKind?: string }[]>;
    };
    // The esm-only profile leaves out CommonJS and node10 resolution; every other problem counts.
    const counted = Object.values(problems)
      .flat()
      .filter((p) => p.resolutionKind !== 'node10' && p.resolutionKind !== 'node16-cjs');
    expect(counted).toEqual([]);
    expect(out.code).toBe(0);
  });
});

describe('installed into a plain Node project', { timeout: INSTALL_TIMEOUT }, () => {
  let project: Promise<string> | undefined;
  const nodeProject = () => {
    project ??= consumerProject('node', [zod, ...enginePeers], {
      'round-trip.mjs': ROUND_TRIP,
      'require.cjs': `
const { task, createWorker } = require('pushworker');
const { createClient } = require('pushworker/client');
const { z } = require('zod');
const t = task({ name: 'cjs', input: z.object({ n: z.number() }), run: ({ n }) => n + 1 });
const w = createWorker({ name: 'cjs', tasks: [t], keys: { secret: 'x'.repeat(32) }, logLevel: 'silent' });
console.log(JSON.stringify({ tasks: w.manifest().tasks.map((m) => m.name), client: typeof createClient }));
`,
    });
    return project;
  };
  const children: ChildProcess[] = [];
  // npx runs the bin as a child of its own, which a signal to npx alone leaves running: each is signalled as a group.
  const killGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group has exited already
    }
  };
  afterAll(() => {
    for (const child of children) killGroup(child, 'SIGKILL');
  });

  it('runs a task end to end as ESM: engine on the embedded store, worker on loopback, client', async () => {
    const dir = await nodeProject();
    // Tracing's peer is not installed: the round trip is also the untraced engine and worker running without it.
    expect(existsSync(join(dir, 'node_modules', '@opentelemetry', 'api'))).toBe(false);
    const out = await run(process.execPath, ['round-trip.mjs'], dir, 120_000);
    expect(out.stderr).toBe('');
    expect(JSON.parse(out.stdout.trim().split('\n').at(-1)!)).toEqual({
      state: 'COMPLETED',
      output: { shout: 'HELLO', order: { z: 1, a: 2 } },
    });
  });

  it('loads with require() from CommonJS', async () => {
    const out = await run(process.execPath, ['require.cjs'], await nodeProject());
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ tasks: ['cjs'], client: 'function' });
  });

  it('answers npx pushworker --help', async () => {
    const out = await run('npx', ['--no-install', 'pushworker', '--help'], await nodeProject());
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^usage: pushworker <command>/);
  });

  it('starts npx pushworker engine in a nested data folder that does not exist yet', async () => {
    const dir = await nodeProject();
    const dataDir = join(dir, 'state', 'nested', 'engine');
    const child = spawn(
      'npx',
      ['--no-install', 'pushworker', 'engine', '--port', '0', '--data-dir', dataDir],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    children.push(child);
    let output = '';
    child.stdout!.on('data', (d) => {
      output += d;
    });
    child.stderr!.on('data', (d) => {
      output += d;
    });
    const url = await until(
      () => {
        if (child.exitCode !== null) throw new Error(`the engine exited with ${child.exitCode}: ${output}`);
        return /engine listening on (http:\/\/\S+)/.exec(output)?.[1];
      },
      'the engine to listen',
      { timeoutMs: 90_000, everyMs: 100, detail: () => output },
    );
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('700');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    killGroup(child, 'SIGTERM');
    await exited;
    await until(async () => {
      try {
        await fetch(`${url}/health`);
        return undefined;
      } catch {
        return true;
      }
    }, 'the engine itself to stop with npx');
  });
});

describe('type-checked by TypeScript, strict, with skipLibCheck off', { timeout: INSTALL_TIMEOUT }, () => {
  const compilerOptions = {
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    target: 'ES2022',
    lib: ['ES2023'],
    types: ['node'],
    resolveJsonModule: true,
  };
  let project: Promise<string> | undefined;
  const typesProject = () => {
    project ??= consumerProject(
      'types',
      [
        zod,
        ...enginePeers,
        `typescript@${versionOf('typescript')}`,
        `@types/node@${versionOf('@types/node')}`,
      ],
      {
        'src/index.ts': EVERY_SUBPATH,
        'tsconfig.node16.json': JSON.stringify({
          compilerOptions: { ...compilerOptions, module: 'node16', moduleResolution: 'node16' },
          include: ['src'],
        }),
        'tsconfig.bundler.json': JSON.stringify({
          compilerOptions: { ...compilerOptions, module: 'esnext', moduleResolution: 'bundler' },
          include: ['src'],
        }),
      },
    );
    return project;
  };

  it.each(['node16', 'bundler'])('accepts every subpath with %s module resolution', async (resolution) => {
    const dir = await typesProject();
    const out = await run(
      process.execPath,
      [join(dir, 'node_modules/typescript/bin/tsc'), '-p', `tsconfig.${resolution}.json`],
      dir,
    );
    expect(out.stdout + out.stderr).toBe('');
    expect(out.code).toBe(0);
  });
});

describe('bundled for serverless platforms', { timeout: INSTALL_TIMEOUT }, () => {
  it('bundles a Cloudflare worker with wrangler deploy --dry-run', async () => {
    const dir = await consumerProject('cloudflare', [zod, `wrangler@${versionOf('wrangler')}`], {
      'src/worker.ts': CLOUDFLARE_WORKER,
      'wrangler.toml': 'name = "edge"\nmain = "src/worker.ts"\ncompatibility_date = "2025-09-01"\n',
    });
    const out = await run('npx', ['--no-install', 'wrangler', 'deploy', '--dry-run', '--outdir', 'out'], dir);
    expect(out.code).toBe(0);
    expect(existsSync(join(dir, 'out', 'worker.js'))).toBe(true);
    expect((await stat(join(dir, 'out', 'worker.js'))).size).toBeGreaterThan(10_000);
  });

  it('bundles a Lambda handler with esbuild and runs a signed push from an API Gateway v2 event', async () => {
    const dir = await consumerProject('lambda', [zod, `esbuild@${versionOf('esbuild')}`], {
      'handler.mjs': LAMBDA_HANDLER,
      'invoke.mjs': INVOKE_LAMBDA,
    });
    const bundle = await run(
      'npx',
      [
        '--no-install',
        'esbuild',
        'handler.mjs',
        '--bundle',
        '--platform=node',
        '--format=esm',
        '--outfile=out/handler.mjs',
      ],
      dir,
    );
    expect(bundle.code).toBe(0);
    // The bundle runs alone, as in a Lambda deployment package: no node_modules beside it.
    await run('rm', ['-rf', 'node_modules'], dir);
    const out = await run(process.execPath, ['invoke.mjs'], dir);
    expect(out.stderr).toBe('');
    expect(JSON.parse(out.stdout)).toMatchObject({
      statusCode: 200,
      body: { results: [{ runId: 'r1', attempt: 1, status: 'completed', output: { shout: 'HI' } }] },
    });
  });

  it('keeps a worker-only install to hono, jose and croner beside zod, and reports its size', async () => {
    const dir = await consumerProject('worker-only', [zod], {});
    const installed = (await readdir(join(dir, 'node_modules'))).filter((n) => !n.startsWith('.'));
    // croner reads a task's cron expressions when the task is defined, as the engine does when it stores them.
    expect(installed.sort()).toEqual(['croner', 'hono', 'jose', 'pushworker', 'zod']);
    // What the engine needs and this install lacks is named with its install command, in one line.
    const engine = await run(
      'npx',
      ['--no-install', 'pushworker', 'engine', '--port', '0', '--data-dir', 'data'],
      dir,
    );
    expect(engine.code).toBe(1);
    expect(engine.stderr.trim()).toBe(
      'pushworker: the embedded store needs @electric-sql/pglite: npm install @electric-sql/pglite',
    );
    writeFileSync(
      join(dir, 'engine.mjs'),
      `import { createEngine } from 'pushworker/engine';
       await createEngine({ databaseUrl: 'postgres://127.0.0.1:1/none' }).catch((e) => console.log(e.code, e.message));`,
    );
    const library = await run(process.execPath, ['engine.mjs'], dir);
    expect(library.stdout.trim()).toBe('missing_dependency a Postgres store needs pg: npm install pg');
    const size = await run('du', ['-sk', 'node_modules'], dir);
    console.log(`worker-only install: ${size.stdout.split('\t')[0]} KB of node_modules`);
  });
});
