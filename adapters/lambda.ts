// AWS Lambda adapter: API Gateway v1/v2, Function URL and ALB events via Hono's aws-lambda adapter, in sync mode.
import { Hono } from 'hono';
import { handle as honoHandle, streamHandle as honoStreamHandle } from 'hono/aws-lambda';
import { nodeBodyHash } from '../src/node/hash.ts';
import { nodeSignatureVerifier } from '../src/node/verify.ts';
import { adoptPlatform } from '../src/worker/platform.ts';
import type { Worker } from '../src/worker/worker.ts';

export type { LambdaEvent } from 'hono/aws-lambda';

export interface LambdaOptions {
  /**
   * The path prefix the trigger puts in front of the worker's routes, when there is one: an API
   * Gateway HTTP API on a named stage (`/prod`), an ALB rule on `/pushworker/*`. Default: none.
   */
  basePath?: string;
}

/** The part of the Lambda context the adapter reads. */
interface InvocationContext {
  getRemainingTimeInMillis?(): number;
}

/**
 * A Lambda handler for API Gateway REST (v1) and HTTP API (v2) events, Function URLs and ALB.
 * Lambda freezes the process once the handler returns, so the worker must run in sync mode: the task
 * runs inside the invocation, and every event is flushed before the handler returns.
 */
export function handle(worker: Worker, options: LambdaOptions = {}) {
  const handler = honoHandle(appOf(worker, options.basePath));
  return async (event: Parameters<typeof handler>[0], context: Parameters<typeof handler>[1]) => {
    try {
      return await handler(event, context);
    } finally {
      await flushBeforeFreeze(worker, context);
    }
  };
}

/**
 * A response-streaming handler (`awslambda.streamifyResponse`), for Function URLs in
 * `RESPONSE_STREAM` mode: the answer may exceed the 6 MB buffered limit. The run still completes, and
 * its events are flushed, before the response is sent. Only callable inside the Lambda Node runtime.
 */
export function streamHandle(worker: Worker, options: LambdaOptions = {}): StreamingHandler {
  return honoStreamHandle(appOf(worker, options.basePath));
}

/** What `awslambda.streamifyResponse` wraps: Hono's streaming handler, named here so that its type is ours. */
export type StreamingHandler = ReturnType<typeof honoStreamHandle>;

function appOf(worker: Worker, basePath = ''): Hono {
  if (worker.mode !== 'sync') {
    throw new TypeError("a Lambda worker runs in sync mode: createWorker({ ..., mode: 'sync' })");
  }
  // Lambda's runtime is Node: node:crypto hashes a push in place instead of in the thread pool, and checks its
  // signature.
  adoptPlatform(worker, { hashBody: nodeBodyHash, verifySignature: nodeSignatureVerifier });
  const base = basePath.replace(/\/+$/, '');
  return base ? new Hono().route(base, worker.app) : worker.app;
}

// Sync mode already flushes inside the request; this catches anything raised after it (a cancelled or
// timed-out run), bounded by the time the invocation has left.
async function flushBeforeFreeze(worker: Worker, context: InvocationContext | undefined) {
  const left = context?.getRemainingTimeInMillis?.();
  await worker.flush(left === undefined ? 10_000 : Math.max(0, left - 500));
}
