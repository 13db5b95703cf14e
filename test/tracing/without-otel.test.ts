// Without @opentelemetry/api installed, the engine and the worker run as they do with it.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { expect, it } from 'vitest';

const entry = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

it('runs a task end to end (enqueued, by an event, retried) where @opentelemetry/api cannot be found, and names it when tracing is asked for', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', fixture('without-otel.mjs'), '--import', 'tsx', fixture('untraced-round-trip.ts')],
    { timeout: 60_000 },
  );
  expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({
    state: 'COMPLETED',
    outputs: ['HELLO', 'AGAIN', 'COMPLETED 2'],
    tracingOn: {
      code: 'missing_dependency',
      message: 'tracing needs @opentelemetry/api: npm install @opentelemetry/api',
    },
  });
}, 90_000);

it('bundles a worker without resolving @opentelemetry/api', async () => {
  const resolved: string[] = [];
  const result = await build({
    entryPoints: [entry('src/index.ts'), entry('adapters/cloudflare.ts')],
    bundle: true,
    write: false,
    outdir: 'out',
    platform: 'neutral',
    format: 'esm',
    mainFields: ['module', 'main'],
    external: ['cloudflare:*', 'node:*'],
    logLevel: 'silent',
    plugins: [
      {
        name: 'no-opentelemetry',
        setup(bundler) {
          bundler.onResolve({ filter: /^@opentelemetry\// }, ({ path, importer }) => {
            resolved.push(`${path} from ${importer}`);
            return { external: true };
          });
        },
      },
    ],
  });
  expect(result.errors).toEqual([]);
  expect(resolved).toEqual([]);
}, 60_000);
