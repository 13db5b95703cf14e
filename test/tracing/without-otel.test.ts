// Without @opentelemetry/api installed, the engine and the worker run as they do with it.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

it('runs a task end to end where @opentelemetry/api cannot be found, and names it when tracing is asked for', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', fixture('without-otel.mjs'), '--import', 'tsx', fixture('untraced-round-trip.ts')],
    { timeout: 60_000 },
  );
  expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({
    state: 'COMPLETED',
    output: 'HELLO',
    tracingOn: {
      code: 'missing_dependency',
      message: 'tracing needs @opentelemetry/api: npm install @opentelemetry/api',
    },
  });
}, 90_000);
