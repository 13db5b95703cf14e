// The README's "Five minutes" block, pasted as a user would: run as written in a new project with the package.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consumerProject, REPO, run, versionOf } from '../package/consumer.ts';

/** The first `sh` block under a README heading. */
function shellBlockUnder(heading: string): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(`\n## ${heading}`));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error(`no sh block under "## ${heading}"`);
  return block;
}

/**
 * The block binds the README's own ports (7070, 8080). Where this user may make a network namespace (root on
 * Linux), it runs in one of its own with only loopback, so that nothing else on the machine holds those ports.
 */
async function isolation(dir: string): Promise<string[]> {
  const probe = await run('unshare', ['--net', 'sh', '-c', 'ip link set lo up'], dir, 10_000);
  return probe.code === 0 ? ['unshare', '--net', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"'] : [];
}

describe('the README', () => {
  it('runs the "Five minutes" block as written, to the echo run COMPLETED', {
    timeout: 300_000,
  }, async () => {
    const block = shellBlockUnder('Five minutes');
    const peers = ['zod', '@electric-sql/pglite', '@hono/node-server', 'undici'];
    const dir = await consumerProject(
      'readme',
      peers.map((name) => `${name}@${versionOf(name)}`),
      {
        'five-minutes.sh': `set -eu\n${block}`,
      },
    );
    const prefix = await isolation(dir);
    const command = [...prefix, 'bash', join(dir, 'five-minutes.sh')];
    // Its own process group, so that the engine and the worker it leaves in the background end with the test.
    const child = spawn(command[0]!, command.slice(1), { cwd: dir, detached: true, env: { ...process.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // the group is gone already
    }
    const logs = ['engine.log', 'worker.log'].map((f) => {
      try {
        return `--- ${f}\n${readFileSync(join(dir, f), 'utf8')}`;
      } catch {
        return `--- ${f}: none`;
      }
    });
    writeFileSync(join(dir, 'output.txt'), `${stdout}\n--- stderr\n${stderr}\n${logs.join('\n')}`);
    expect({ code, stderr: stderr.split('\n').filter((l) => /error|refused|not /i.test(l)) }).toEqual({
      code: 0,
      stderr: [],
    });
    const result = stdout.split('\n').find((line) => line.startsWith('{"id":"run_'));
    expect(JSON.parse(result!)).toMatchObject({ state: 'COMPLETED', output: { message: 'hello' } });
    expect(stdout).toMatch(/example-worker\s+ACTIVE/);
  });
});
