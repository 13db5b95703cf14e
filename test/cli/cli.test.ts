import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '../../adapters/node.ts';
import { tasks, workflows } from '../../examples/tasks.ts';
import { createWorker } from '../../src/index.ts';
import { until } from '../support/until.ts';

const BIN = 'bin/pushworker.mjs';
const TOKEN = 'pwa_cli-test-token-0123456789abcdef';

function cli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the pushworker command', () => {
  let engine: ChildProcess;
  let engineUrl: string;
  let env: Record<string, string>;
  let worker: Awaited<ReturnType<typeof serve>>;

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pushworker-cli-'));
    // Port 0: the engine binds a free port and says which. The worker it is given listens on loopback.
    engine = spawn(
      process.execPath,
      [BIN, 'engine', '--port', '0', '--data-dir', dataDir, '--api-token', TOKEN],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PUSHWORKER_ALLOW_PRIVATE_TARGETS: 'true' },
      },
    );
    let output = '';
    engine.stdout!.on('data', (d) => {
      output += d;
    });
    engine.stderr!.on('data', (d) => {
      output += d;
    });
    engineUrl = await until(() => /engine listening on (\S+)/.exec(output)?.[1], 'the engine to listen', {
      timeoutMs: 58_000,
      everyMs: 50,
      detail: () => output,
    });
    expect(engineUrl).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    env = { PUSHWORKER_ENGINE_URL: engineUrl, PUSHWORKER_API_TOKEN: TOKEN };

    const w = createWorker({
      name: 'cli-worker',
      tasks,
      mode: 'sync',
      keys: { jwksUrl: `${engineUrl}/.well-known/jwks.json`, jwksCooldownMs: 0 },
      logLevel: 'silent',
    });
    worker = await serve(w, { port: 0, hostname: '127.0.0.1', handleSignals: false, start: false });
  });

  afterAll(async () => {
    await worker?.close();
    if (engine && engine.exitCode === null) {
      const exited = new Promise((r) => engine.once('exit', r));
      engine.kill('SIGTERM');
      await exited;
    }
  });

  it('prints help for every command and exits 0', async () => {
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    const commands = [
      'engine',
      'dev',
      'demo',
      'register',
      'run',
      'workers',
      'schedules',
      'event',
      'stats',
      'rate-limits',
      'keys',
      'token',
    ];
    for (const command of commands) {
      expect(top.stdout).toContain(command);
      const help = await cli([command, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`usage: pushworker ${command}`);
    }
  });

  it('answers user mistakes with one clear line and no stack trace', async () => {
    const cases = [
      { args: ['bogus'], code: 2, text: 'unknown command "bogus"' },
      { args: ['run', 'echo', '--input', '{bad'], code: 2, text: '--input is not valid JSON' },
      { args: ['run'], code: 2, text: 'a task name is needed' },
      { args: ['run', 'echo', '--nope'], code: 2, text: 'unknown option --nope' },
      { args: ['workers', '--token', 'pwa_wrong-token-0123456789'], code: 1, text: 'pushworker:' },
      // Port 1: only root may listen there, so nothing does.
      { args: ['stats', '--url', 'http://127.0.0.1:1'], code: 1, text: 'cannot reach the engine' },
    ];
    for (const c of cases) {
      const res = await cli(c.args, env);
      expect(res.code, c.args.join(' ')).toBe(c.code);
      expect(res.stderr).toContain(c.text);
      expect(res.stderr).not.toMatch(/\n\s+at /);
    }
    const noToken = await cli(['stats'], { PUSHWORKER_API_TOKEN: '' });
    expect(noToken.stderr).toContain('an API token is needed');
  });

  it('registers a serverless worker, runs tasks with --wait, and reports workers and stats', async () => {
    const registered = await cli(['register', worker.url, '--name', 'cli-worker'], env);
    expect(registered.stderr).toBe('');
    expect(registered.stdout).toMatch(/registered cli-worker .* with 4 tasks and 100 slots/);

    const ok = await cli(['run', 'echo', '--input', '{"message":"from the cli"}', '--wait'], env);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ state: 'COMPLETED', output: { message: 'from the cli' } });

    const failed = await cli(['run', 'fail', '--input', '{"message":"no","retryable":false}', '--wait'], env);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({
      state: 'FAILED',
      error: { name: 'NonRetryableError' },
    });

    const queued = await cli(['run', 'echo', '--input', '{"message":"later"}'], env);
    expect(JSON.parse(queued.stdout)).toMatchObject({ created: true });

    const workers = await cli(['workers'], env);
    expect(workers.stdout).toMatch(/cli-worker\s+ACTIVE\s+\d+\/100/);
    const stats = JSON.parse((await cli(['stats', '--json'], env)).stdout);
    expect(stats.find((s: { task: string }) => s.task === 'echo')).toMatchObject({ workers: 1 });

    const id = JSON.parse((await cli(['workers', '--json'], env)).stdout)[0].id;
    expect((await cli(['workers', 'pause', id], env)).stdout).toContain('is PAUSED');
    expect((await cli(['workers', 'resume', id], env)).stdout).toContain('is ACTIVE');
  });

  it('lists, reads, retries and cancels runs, and says at once that no worker serves a task', async () => {
    const failed = await cli(
      ['run', 'fail', '--input', '{"message":"first","retryable":false}', '--wait'],
      env,
    );
    const { id } = JSON.parse(failed.stdout) as { id: string };
    // --wait says the id first, then each state, on stderr.
    expect(failed.stderr.split('\n')[0]).toBe(`run ${id}: QUEUED`);

    const listed = await cli(['runs', '--state', 'FAILED', '--task', 'fail'], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+fail\\s+FAILED\\s+1\\s`));
    const page = JSON.parse((await cli(['runs', '--limit', '1', '--json'], env)).stdout);
    expect(page.runs).toHaveLength(1);
    expect((await cli(['runs', '--limit', '1', '--cursor', page.nextCursor], env)).stdout).toMatch(/^ID\s/);

    const retried = await cli(['retry', id], env);
    expect(retried.stdout).toBe(`run ${id} is QUEUED again\n`);
    const detail = JSON.parse((await cli(['get', id], env)).stdout);
    expect(detail.attempts[0]).toMatchObject({
      attempt: 1,
      outcome: 'failed',
      error: { name: 'NonRetryableError' },
    });

    const bulk = await cli(['retry', '--state', 'FAILED', '--task', 'fail'], env);
    expect(bulk.code).toBe(0);
    expect(bulk.stdout).toMatch(/^\d+ runs queued again\n/);

    const nobody = await cli(['run', 'nosuchtask', '--input', '{}', '--wait', '--timeout-ms', '300'], env);
    expect(nobody.code).toBe(1);
    const [warning, state] = nobody.stderr.split('\n');
    expect(warning).toMatch(/^pushworker: warning: no ACTIVE worker serves the task "nosuchtask"/);
    expect(state).toMatch(/^run run_\S+: QUEUED: a worker that serves this task/);
    expect(nobody.stderr).toMatch(/pushworker: the run run_\S+ is still QUEUED after 300 ms/);
    const queuedId = JSON.parse(nobody.stdout).id as string;
    const notFinished = await cli(['retry', queuedId], env);
    expect(notFinished.code).toBe(1);
    expect(notFinished.stderr).toMatch(/^pushworker: the run is QUEUED: only a finished run is retried\n$/);
    expect((await cli(['cancel', queuedId], env)).stdout).toBe(`run ${queuedId} is CANCELLED\n`);
  });

  it('delays a run with --delay or --at, fails it by --schedule-timeout, and lists and replays dead runs', async () => {
    const delayed = await cli(['run', 'echo', '--input', '{}', '--delay', '5m'], env);
    expect(delayed.code).toBe(0);
    const delayedRun = JSON.parse((await cli(['get', JSON.parse(delayed.stdout).id], env)).stdout);
    expect(delayedRun.state).toBe('QUEUED');
    expect(delayedRun.waitingFor).toMatch(/^not due until /);
    const dueIn = Date.parse(delayedRun.dueAt) - Date.parse(delayedRun.createdAt);
    // Due five minutes after the request; created when its insert ran, a moment later.
    expect(dueIn).toBeGreaterThan(299_000);
    expect(dueIn).toBeLessThanOrEqual(300_000);
    const tomorrow = new Date(Math.ceil(Date.now() / 1000) * 1000 + 86_400_000).toISOString();
    const at = await cli(['run', 'echo', '--input', '{}', '--at', tomorrow.replace('.000Z', 'Z')], env);
    const atRun = JSON.parse((await cli(['get', JSON.parse(at.stdout).id], env)).stdout);
    expect(atRun.dueAt).toBe(tomorrow);
    const tooFar = await cli(['run', 'echo', '--delay', '400d'], env);
    expect(tooFar.code).toBe(1);
    expect(tooFar.stderr).toMatch(/^pushworker: a run may be delayed by at most/);
    for (const run of [delayedRun, atRun]) await cli(['cancel', run.id], env);

    const expiring = await cli(['run', 'nosuchtask', '--input', '{}', '--schedule-timeout', '100ms'], env);
    const expiredId = JSON.parse(expiring.stdout).id as string;
    await until(
      async () => JSON.parse((await cli(['get', expiredId], env)).stdout).state === 'FAILED',
      'the run to expire',
    );
    const dead = await cli(['runs', '--dead', 'expired', '--json'], env);
    expect(JSON.parse(dead.stdout).runs.map((r: { id: string }) => r.id)).toEqual([expiredId]);
    const replayed = await cli(['retry', '--dead', 'expired'], env);
    expect(replayed.stdout).toBe(`1 runs queued again\n${expiredId}\n`);
    expect((await cli(['cancel', expiredId], env)).stdout).toBe(`run ${expiredId} is CANCELLED\n`);
  });

  it('mints tokens and prints, rotates and generates keys', async () => {
    const minted = await cli(['token', 'create', '--worker', 'some-worker'], env);
    expect(minted.stdout.trim()).toMatch(/^pwt\.\S+\.\S+$/);
    expect((await cli(['token', 'create'], env)).code).toBe(2);

    const before = JSON.parse((await cli(['keys', 'print'], env)).stdout);
    expect(before.keys).toHaveLength(1);
    expect((await cli(['keys', 'rotate'], env)).stdout).toContain('rotated');
    const after = JSON.parse((await cli(['keys', 'print'], env)).stdout);
    expect(after.keys).toHaveLength(2);
    // The worker trusts the engine's JWKS: runs still go through after the rotation.
    const ok = await cli(['run', 'echo', '--input', '{"message":"rotated"}', '--wait'], env);
    expect(JSON.parse(ok.stdout)).toMatchObject({ state: 'COMPLETED' });

    const generated = JSON.parse((await cli(['keys', 'generate'])).stdout);
    expect(generated).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(generated.d).toBeTruthy();
  });

  it('mints API tokens of a scope, admin by default, and a read token is refused what it may not do', async () => {
    const mintWith = async (...flags: string[]) => {
      const minted = await cli(['token', 'create', ...flags], env);
      expect(minted.code, flags.join(' ')).toBe(0);
      expect(minted.stdout.trim()).toMatch(/^pwt\.\S+\.\S+$/);
      return minted.stdout.trim();
    };
    const read = await mintWith('--scope', 'read');
    const enqueue = await mintWith('--api', '--scope', 'enqueue');
    const admin = await mintWith('--api');

    expect((await cli(['workers', '--token', read], env)).code).toBe(0);
    const refused = await cli(['run', 'echo', '--input', '{}', '--token', read], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      "pushworker: this route needs a token of scope enqueue or more; this token's scope is read\n",
    );
    const queued = await cli(['run', 'echo', '--input', '{"message":"scoped"}', '--token', enqueue], env);
    expect(JSON.parse(queued.stdout)).toMatchObject({ created: true });
    const notAdmin = await cli(['token', 'create', '--worker', 'w', '--token', enqueue], env);
    expect(notAdmin.code).toBe(1);
    expect(notAdmin.stderr).toContain('needs a token of scope admin');
    expect((await cli(['token', 'create', '--worker', 'w', '--token', admin], env)).code).toBe(0);

    const unknown = await cli(['token', 'create', '--scope', 'root'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown scope "root": say read, enqueue, admin');
    expect((await cli(['token', 'create', '--worker', 'w', '--scope', 'read'], env)).code).toBe(2);

    // Revoked by the token itself or by its id (the part between the dots), each is refused from then on.
    const readId = read.split('.')[1]!;
    expect((await cli(['token', 'revoke', read], env)).stdout).toBe(`token ${readId} is revoked\n`);
    const enqueueId = enqueue.split('.')[1]!;
    expect((await cli(['token', 'revoke', enqueueId], env)).code).toBe(0);
    for (const revoked of [read, enqueue]) {
      const after = await cli(['workers', '--token', revoked], env);
      expect(after.code).toBe(1);
      expect(after.stderr).toContain('a valid api token is required');
    }
    const missing = await cli(['token', 'revoke', 'nosuchtoken'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^pushworker: .*not found/);
    expect((await cli(['token', 'revoke'], env)).code).toBe(2);
  });

  it("sets and lists rate limits as the README's block shows, and says what is wrong with a window", async () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('\n### Rate limits and concurrency'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    const lines = block.trim().split('\n');
    expect(lines).toEqual([
      'pushworker rate-limits set openai --limit 100 --per minute',
      'pushworker rate-limits list',
    ]);
    const [set, list] = lines.map((l) => l.split(' ').slice(1));
    const setOut = await cli(set!, env);
    expect(setOut.code).toBe(0);
    expect(setOut.stdout).toBe('openai: at most 100 per 60000 ms\n');
    const listOut = await cli(list!, env);
    expect(listOut.code).toBe(0);
    expect(listOut.stdout.split('\n')[0]).toMatch(/^KEY\s+LIMIT\s+PER MS\s+USED\s+WINDOW ENDS\s+SOURCE$/);
    expect(listOut.stdout.split('\n')[1]).toMatch(/^openai\s+100\s+60000\s+0\s+\S+Z\s+set$/);
    const json = JSON.parse((await cli(['rate-limits', '--json'], env)).stdout);
    expect(json).toMatchObject([{ key: 'openai', limit: 100, perMs: 60_000, declared: null }]);

    const mistakes = [
      { args: ['rate-limits', 'set', 'openai', '--limit', '5', '--per', 'week'], text: '--per takes second' },
      { args: ['rate-limits', 'set', 'openai', '--per', 'minute'], text: '--limit N is needed' },
      { args: ['rate-limits', 'set'], text: 'a rate limit key is needed' },
      { args: ['rate-limits', 'drop'], text: 'unknown action "drop"' },
    ];
    for (const m of mistakes) {
      const res = await cli(m.args, env);
      expect(res.code, m.args.join(' ')).toBe(2);
      expect(res.stderr).toContain(m.text);
    }
  });

  it("runs a workflow and lists its runs as the README's block shows", async () => {
    const shop = createWorker({
      name: 'cli-shop',
      workflows,
      mode: 'sync',
      keys: { jwksUrl: `${engineUrl}/.well-known/jwks.json`, jwksCooldownMs: 0 },
      logLevel: 'silent',
    });
    const served = await serve(shop, { port: 0, hostname: '127.0.0.1', handleSignals: false, start: false });
    try {
      expect((await cli(['register', served.url, '--name', 'cli-shop'], env)).code).toBe(0);
      const readme = readFileSync('README.md', 'utf8');
      const section = readme.slice(readme.indexOf('\n### Workflows'));
      const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
      const lines = block.trim().split('\n');
      expect(lines).toEqual([
        `pushworker run order --input '{"orderId":"o-1","items":[{"sku":"mug","quantity":2}]}' --wait`,
        'pushworker workflow list --workflow order',
      ]);
      const [run, list] = lines.map((l) =>
        l
          .split(' ')
          .slice(1)
          .map((w) => w.replace(/^'(.*)'$/, '$1')),
      );
      const ran = await cli(run!, env);
      expect(ran.code, ran.stderr).toBe(0);
      const result = JSON.parse(ran.stdout);
      expect(result).toMatchObject({
        state: 'COMPLETED',
        output: { invoiceOrder: { invoiceId: 'inv-o-1' } },
      });
      expect(result.tasks.map((t: { task: string; state: string }) => `${t.task} ${t.state}`)).toEqual([
        'fetchOrder COMPLETED',
        'priceOrder COMPLETED',
        'reserveStock COMPLETED',
        'invoiceOrder COMPLETED',
      ]);
      expect(ran.stderr).toContain(`workflow run ${result.id}: `);
      const listed = await cli(list!, env);
      expect(listed.code).toBe(0);
      expect(listed.stdout.split('\n')[1]).toMatch(new RegExp(`^${result.id}\\s+order\\s+COMPLETED\\s`));

      const got = await cli(['workflow', 'get', result.id], env);
      expect(got.stdout.split('\n')[0]).toBe(`${result.id} order COMPLETED`);
      const sold = await cli(
        [
          'workflow',
          'run',
          'order',
          '--input',
          '{"orderId":"o-2","items":[{"sku":"cap","quantity":1}]}',
          '--wait',
        ],
        env,
      );
      expect(sold.code).toBe(1);
      expect(JSON.parse(sold.stdout).tasks.at(-1)).toMatchObject({
        task: 'invoiceOrder',
        state: 'FAILED',
        error: { name: 'ParentFailed' },
      });
      for (const m of [
        { args: ['workflow', 'get'], text: 'get needs a workflow run id' },
        { args: ['workflow', 'stop', 'x'], text: 'unknown action "stop"' },
        {
          args: ['run', 'order', '--delay', '5m'],
          text: '"order" is a workflow: a workflow run takes no --delay',
        },
      ]) {
        const res = await cli(m.args, env);
        expect(res.code, m.args.join(' ')).toBe(2);
        expect(res.stderr).toContain(m.text);
      }
    } finally {
      await served.close();
    }
  });

  it("publishes and lists events as the README's block shows, once per id", async () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('\n### Events'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    const lines = block.trim().split('\n');
    expect(lines).toEqual([
      `pushworker event publish order.created --payload '{"orderId":"o-1"}' --id order-o-1`,
      'pushworker event list',
    ]);
    // The shell's reading of these lines: words split at spaces, single quotes removed.
    const [publish, list] = lines.map((l) =>
      l
        .split(' ')
        .slice(1)
        .map((w) => w.replace(/^'(.*)'$/, '$1')),
    );
    const published = await cli(publish!, env);
    expect(published.code).toBe(0);
    expect(published.stdout).toBe('published order.created as order-o-1: no listening task\n');
    const again = await cli(publish!, env);
    expect(again.stdout).toBe('already published order.created as order-o-1: no listening task\n');
    const listed = await cli(list!, env);
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n')[1]).toMatch(/^order-o-1\s+order\.created\s+-\s+0\s+\S+Z$/);
    const json = JSON.parse((await cli(['event', 'list', '--json'], env)).stdout);
    expect(json).toMatchObject([{ id: 'order-o-1', payload: { orderId: 'o-1' }, runs: [] }]);

    for (const m of [
      { args: ['event', 'publish'], text: 'publish needs an event name' },
      { args: ['event', 'send', 'x'], text: 'unknown action "send"' },
      { args: ['event', 'publish', 'x', '--payload', '{bad'], text: '--payload is not valid JSON' },
    ]) {
      const res = await cli(m.args, env);
      expect(res.code, m.args.join(' ')).toBe(2);
      expect(res.stderr).toContain(m.text);
    }
    const refused = await cli(['event', 'publish', 'has space'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('pushworker: ');
  });

  it('creates, lists, pauses, resumes and deletes schedules, and says what is wrong with a bad one', async () => {
    const created = await cli(
      [
        'schedules',
        'create',
        'nightly',
        '--task',
        'echo',
        '--cron',
        '0 3 * * *',
        '--input',
        '{"n":1}',
        '--json',
      ],
      env,
    );
    expect(created.code, created.stderr).toBe(0);
    const view = JSON.parse(created.stdout);
    expect(view).toMatchObject({
      name: 'nightly',
      task: 'echo',
      cron: '0 3 * * *',
      input: { n: 1 },
      paused: false,
    });
    expect(view.nextTickAt).toMatch(/T03:00:00\.000Z$/);

    const listed = await cli(['schedules', 'list'], env);
    expect(listed.stdout.split('\n')[0]).toMatch(
      /^NAME\s+TASK\s+CRON\s+TIMEZONE\s+STATE\s+SOURCE\s+NEXT\s+LAST$/,
    );
    expect(listed.stdout).toContain(`nightly  echo  0 3 * * *  UTC       active  api     ${view.nextTickAt}`);
    expect((await cli(['schedules', 'pause', 'nightly'], env)).stdout).toBe('nightly is paused\n');
    expect((await cli(['schedules', 'resume', 'nightly'], env)).stdout).toBe(
      `nightly is active, next ${view.nextTickAt}\n`,
    );
    expect((await cli(['schedules', 'delete', 'nightly'], env)).stdout).toBe('deleted schedule nightly\n');
    expect((await cli(['schedules'], env)).stdout).toBe('(none)\n');

    const mistakes = [
      {
        args: ['schedules', 'create', 'x', '--task', 'echo'],
        code: 2,
        text: 'create needs --task and --cron',
      },
      {
        args: ['schedules', 'create', 'x', '--task', 'echo', '--cron', '* *', '--missed', 'all'],
        code: 2,
        text: '--missed takes latest, backfill, not "all"',
      },
      { args: ['schedules', 'pause'], code: 2, text: 'a schedule name is needed' },
      { args: ['schedules', 'explode', 'x'], code: 2, text: 'unknown action "explode"' },
      {
        args: ['schedules', 'create', 'x', '--task', 'echo', '--cron', '61 * * * *'],
        code: 1,
        text: 'pushworker:',
      },
      { args: ['schedules', 'delete', 'nothing'], code: 1, text: 'the schedule was not found' },
    ];
    for (const c of mistakes) {
      const res = await cli(c.args, env);
      expect(res.code, c.args.join(' ')).toBe(c.code);
      expect(res.stderr).toContain(c.text);
    }
  });

  it('stops the engine on SIGTERM with exit code 0', async () => {
    const exited = new Promise<number | null>((r) => engine.once('exit', (code) => r(code)));
    engine.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
