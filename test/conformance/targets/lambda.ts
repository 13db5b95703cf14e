// The Lambda example's handler, invoked as AWS does: one event at a time per execution environment.
import { vi } from 'vitest';
import { lambdaContext, lambdaEvent, responseOf, type Trigger } from './lambda-events.ts';
import {
  type Deployment,
  type EngineWiring,
  HATCHET_NAMED,
  type HatchetNaming,
  replyOf,
  startOnSink,
  type TargetFactory,
  workerEnv,
} from './target.ts';

const ONE_AT_A_TIME =
  'Lambda runs one invocation at a time per execution environment: a second request is served by ' +
  'another environment, which does not hold the running task (a cancel there answers `unknown`; the ' +
  "engine's `stale` answer to the run's next heartbeat stops it instead, as the stale scenario shows)";

const NO_CLIENT_ABORT =
  'API Gateway, Function URLs and ALB do not pass a client disconnect on to the function: a cancelled ' +
  "task runs to its end (or its timeoutMs, or the function's timeout) and its answer is dropped";

function lambdaTarget(
  name: string,
  trigger: Trigger,
  options: { base64?: boolean; hatchet?: HatchetNaming } = {},
): TargetFactory {
  const hatchet = options.hatchet ?? {};
  const deploy = async (engine: EngineWiring): Promise<Deployment> => {
    // Each trigger is its own deployment: a fresh module instance reading its own process.env.
    const env = workerEnv(engine, hatchet);
    Object.assign(process.env, env);
    vi.resetModules();
    const { handler } = await import('../../../examples/lambda/handler.ts');
    for (const key of Object.keys(env)) delete process.env[key];

    let environment: Promise<unknown> = Promise.resolve();
    return {
      mode: 'sync',
      call(c) {
        const invocation = environment.then(async () => {
          const result = await handler(lambdaEvent(trigger, c, options), lambdaContext());
          const { status, headers, text } = responseOf(result);
          return replyOf(status, headers, text);
        });
        environment = invocation.catch(() => {});
        return invocation;
      },
      close: async () => {},
    };
  };
  return {
    name,
    unsupported: { 'concurrent-requests': ONE_AT_A_TIME, 'client-abort': NO_CLIENT_ABORT },
    deploy,
    start: () => startOnSink(name, deploy, { hatchet, flushedOnReturn: true }),
  };
}

export const lambdaTargets = [
  lambdaTarget('lambda: API Gateway REST (v1)', 'rest-v1'),
  lambdaTarget('lambda: API Gateway REST (v1), binary media types, base64 body', 'rest-v1', { base64: true }),
  lambdaTarget('lambda: API Gateway HTTP API (v2)', 'http-v2', { hatchet: HATCHET_NAMED }),
  lambdaTarget('lambda: Function URL', 'function-url'),
  lambdaTarget('lambda: Function URL, base64 body', 'function-url', { base64: true }),
  lambdaTarget('lambda: ALB', 'alb'),
];
