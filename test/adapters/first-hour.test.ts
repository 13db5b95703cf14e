// What a new user meets first: honest listen lines, a Cloudflare worker that says what it lacks, a free demo port.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { moduleWorker } from '../../adapters/cloudflare.ts';
import { serve } from '../../adapters/node.ts';
import { tasks } from '../../examples/tasks.ts';
import { createLogger, createWorker } from '../../src/index.ts';

describe('a worker served on Node', () => {
  it('says in its listen line that it listens on every interface by default', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', (line) => lines.push(line));
    const worker = createWorker({ name: 'listen', tasks, keys: { secret: 'x'.repeat(32) }, logger });
    const served = await serve(worker, { port: 0, start: false, handleSignals: false });
    await served.close();
    expect(lines.find((l) => l.includes('listening on'))).toContain(
      `listening on 0.0.0.0:${served.port}, every interface (http://127.0.0.1:${served.port} from this machine)`,
    );
  });

  it('listens on the one interface it is given, and says so', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', (line) => lines.push(line));
    const worker = createWorker({ name: 'listen', tasks, keys: { secret: 'x'.repeat(32) }, logger });
    const served = await serve(worker, {
      port: 0,
      hostname: '127.0.0.1',
      start: false,
      handleSignals: false,
    });
    const address = served.server.address();
    await served.close();
    expect(address).toMatchObject({ address: '127.0.0.1' });
    expect(lines.find((l) => l.includes('listening on'))).toContain(
      `listening on http://127.0.0.1:${served.port}`,
    );
  });
});

describe('a Cloudflare worker without keys', () => {
  it('answers 500 misconfigured with the missing bindings named in the answer', async () => {
    const edge = moduleWorker({ name: 'edge', tasks });
    const res = await edge.fetch(new Request('https://edge.example/health'), { PUSHWORKER_NAME: 'edge' }, {
      waitUntil: () => {},
      passThroughOnException: () => {},
    } as never);
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('misconfigured');
    expect(body.error.message).toContain('PUSHWORKER_SECRET');
  });
});

describe('npm start', () => {
  it('runs the demo while port 7070 is taken', async () => {
    // Held here for the length of the demo; when something else holds it already, the case is the same.
    const holder: Server = createServer();
    await new Promise<void>((resolve) => {
      holder.once('error', () => resolve());
      holder.listen(7070, '127.0.0.1', () => resolve());
    });
    try {
      const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(
          process.execPath,
          ['bin/pushworker.mjs', 'demo', '--once', '--runs', '12'],
          (error, stdout, stderr) =>
            resolve({ code: error ? Number((error as { code?: unknown }).code) || 1 : 0, stdout, stderr }),
        ),
      );
      expect(out.stderr).not.toContain('EADDRINUSE');
      expect(out.stdout).toMatch(/summary: 12 runs: .*, 0 not finished/);
      expect(out.stdout).toMatch(
        /workflows: 8 order runs .*: 6 invoiced, 2 failed on a sold-out item, 0 not finished/,
      );
      expect(out.stdout).toMatch(
        /durable: 6 onboardUser runs .*: 4 verified and welcomed, 2 reminded after their wait timed out, 0 not finished; 16 suspensions/,
      );
      expect(out.code).toBe(0);
    } finally {
      holder.close();
    }
  });
});
