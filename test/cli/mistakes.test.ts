// How the pushworker command ends when it is called wrong or the engine is not there: one line, and its exit code.
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { packageVersion } from '../../src/cli/version.ts';

function cli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['bin/pushworker.mjs', ...args],
      { env: { ...process.env, PUSHWORKER_API_TOKEN: 'pwa_mistakes-0123456789abcdef', ...env } },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: unknown }).code) || 1 : 0, stdout, stderr }),
    );
  });
}

/** A port nothing listens on: bound, read back, and closed again before the command runs. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const oneLine = (text: string) => text.trim().split('\n');

describe('the pushworker command', () => {
  it('prints its version', async () => {
    const out = await cli(['--version']);
    expect(out).toMatchObject({ code: 0, stdout: `${packageVersion()}\n` });
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each([
    [
      ['run', 'echo', '--url', '127.0.0.1:7070'],
      /--url "127\.0\.0\.1:7070" is not a URL; give one such as http/,
    ],
    [['run', 'echo', '--url', 'localhost:7070'], /is not an http:\/\/ or https:\/\/ URL/],
    [
      ['run', 'echo', '--inptu', '{}'],
      /^pushworker: unknown option --inptu \(see 'pushworker run --help'\)$/,
    ],
    [['run', 'echo', '--input'], /^pushworker: --input needs a value/],
    [['run'], /^pushworker: a task name is needed \(see 'pushworker run --help'\)$/],
    [['run', 'echo', '--input', '{nope'], /--input is not valid JSON/],
    [
      ['runs', '--state', 'DONE'],
      /--state takes QUEUED, ASSIGNED, RUNNING, COMPLETED, FAILED, CANCELLED, not DONE/,
    ],
    [['retry', '--state', 'QUEUED'], /--state takes FAILED, CANCELLED, COMPLETED, not QUEUED/],
    [
      ['run', 'echo', '--delay', '5 minutes'],
      /^pushworker: --delay takes a duration such as 30s, 5m, 2h or 1d/,
    ],
    [
      ['run', 'echo', '--delay', '5m', '--at', '2026-12-24T18:00:00Z'],
      /^pushworker: give --delay or --at, not both/,
    ],
    [
      ['run', 'echo', '--at', 'someday'],
      /^pushworker: --at takes a date and time such as 2026-12-24T18:00:00Z/,
    ],
    [['run', 'echo', '--schedule-timeout', '1.5s'], /^pushworker: --schedule-timeout takes a duration/],
    [['runs', '--dead', 'old'], /^pushworker: --dead takes expired, exhausted, not old/],
    [['retry'], /^pushworker: a run id, --state or --dead is needed/],
    [['retry', 'run_1', '--dead', 'expired'], /^pushworker: give a run id or a filter, not both/],
    [
      ['nosuchcommand'],
      /^pushworker: unknown command "nosuchcommand"; run 'pushworker --help' for the commands$/,
    ],
  ])('says a usage mistake in one line and exits 2: %j', async (args, said) => {
    const out = await cli(args);
    expect(out.code).toBe(2);
    expect(oneLine(out.stderr)).toHaveLength(1);
    expect(out.stderr.trim()).toMatch(said);
  });

  it('says in one line, exit 1, that the engine cannot be reached', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    for (const args of [
      ['runs'],
      ['get', 'run_x'],
      ['run', 'echo', '--wait'],
      ['ready', '--timeout-ms', '300'],
    ]) {
      const out = await cli([...args, '--url', url]);
      expect(out.code).toBe(1);
      expect(oneLine(out.stderr)).toHaveLength(1);
      expect(out.stderr).toMatch(/ECONNREFUSED/);
    }
  });

  it('refuses an engine setting that is not valid, in one line naming its variable, exit 1', async () => {
    const out = await cli(['engine', '--port', '0'], {
      PUSHWORKER_LEASE_MS: 'thirty seconds',
      PUSHWORKER_ALLOW_PRIVATE_TARGETS: 'maybe',
    });
    expect(out.code).toBe(1);
    expect(oneLine(out.stderr)).toHaveLength(1);
    expect(out.stderr).toMatch(/^pushworker: invalid engine configuration: /);
    expect(out.stderr).toContain('PUSHWORKER_LEASE_MS: ');
    expect(out.stderr).toContain('PUSHWORKER_ALLOW_PRIVATE_TARGETS: ');
    expect(out.stderr).not.toContain('"code"');
  });
});
