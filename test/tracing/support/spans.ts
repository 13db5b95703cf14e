// The spans of a traced test: the engine's (this process's in-memory exporter) and a worker process's (written to
// its stdout by fixtures/traced-worker.ts), in one shape.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Harness } from '../../support/engine.ts';

const fixture = fileURLToPath(new URL('../fixtures/traced-worker.ts', import.meta.url));
export const WORKER = 'traced-worker';

export interface ExportedSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Record<string, unknown>;
  /** The span ids this span links to. */
  links: string[];
}

/** Registers an in-memory exporter for the file's tests (emptied after each); answers the engine's finished spans. */
export function inMemorySpans(): () => ExportedSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  beforeAll(() => {
    trace.setGlobalTracerProvider(provider);
  });
  afterEach(() => {
    exporter.reset();
  });
  afterAll(async () => {
    trace.disable();
    await provider.shutdown();
  });
  return () =>
    exporter.getFinishedSpans().map((span) => ({
      name: span.name,
      traceId: span.spanContext().traceId,
      spanId: span.spanContext().spanId,
      parentSpanId: span.parentSpanContext?.spanId,
      attributes: span.attributes,
      links: span.links.map((l) => l.context.spanId),
    }));
}

export interface TracedWorker {
  child: ChildProcess;
  url: Promise<string>;
  spans: ExportedSpan[];
}

/** The traced worker fixture in a process of its own, its spans collected as it writes them. */
export function spawnWorker(env: Record<string, string>): TracedWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, PUSHWORKER_NAME: WORKER, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const spans: ExportedSpan[] = [];
  const url = new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the worker process exited (${code})`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('url ')) resolve(line.slice(4));
      if (line.startsWith('span ')) spans.push(JSON.parse(line.slice(5)) as ExportedSpan);
    });
  });
  return { child, url, spans };
}

/**
 * The traced worker serving `h`'s engine, registered by URL; `hold` gets the process as soon as it is spawned, so
 * that a test's own clean-up stops it even when the registration fails.
 */
export async function startTracedWorker(
  h: Harness,
  hold: (worker: TracedWorker) => void,
): Promise<TracedWorker> {
  const { token } = await h.engine.createToken('worker', WORKER);
  const worker = spawnWorker({
    PUSHWORKER_ENGINE_URL: h.url,
    PUSHWORKER_TOKEN: token,
    PUSHWORKER_JWKS_URL: `${h.url}/.well-known/jwks.json`,
  });
  hold(worker);
  await h.engine.registerUrl(await worker.url, WORKER);
  return worker;
}

/** The one span of `name` among `spans`. */
export function only(spans: ExportedSpan[], name: string): ExportedSpan {
  const found = spans.filter((s) => s.name === name);
  if (found.length !== 1) throw new Error(`${found.length} spans named ${name}, not one`);
  return found[0]!;
}
