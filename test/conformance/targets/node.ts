// Node targets over real loopback sockets: the Node adapter's serve(), an Express mount and a Hono mount.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '../../../adapters/node.ts';
import { createApp as createExpressApp } from '../../../examples/node/express.ts';
import { createApp as createHonoApp } from '../../../examples/node/hono-mount.ts';
import { tasks, workflows } from '../../../examples/tasks.ts';
import { configFromEnv, createWorker, type Worker } from '../../../src/index.ts';
import { closeServer, listen } from '../../support/sink.ts';
import {
  type Deployment,
  type EngineWiring,
  HATCHET_NAMED,
  type HatchetNaming,
  type HttpCall,
  replyOf,
  startOnSink,
  type TargetFactory,
  workerEnv,
} from './target.ts';

/** A Node target on a loopback socket: `open` serves the worker configured by `env`. */
function socketTarget(
  name: string,
  open: (env: Record<string, string>) => Promise<{ base: string; worker: Worker; close(): Promise<void> }>,
  { hatchet = {}, ...factory }: { hatchet?: HatchetNaming; parentOwnsUnknownRoutes?: boolean } = {},
): TargetFactory {
  const deploy = async (engine: EngineWiring): Promise<Deployment> => {
    const served = await open(workerEnv(engine, hatchet));
    return {
      mode: served.worker.mode,
      url: served.base,
      call: (c) => callOverSocket(served.base, c),
      async close() {
        await served.worker.stop({ graceMs: 1_000 });
        await served.close();
      },
    };
  };
  return {
    name,
    ...factory,
    deploy,
    start: () => startOnSink(name, deploy, { hatchet, flushedOnReturn: false }),
  };
}

async function callOverSocket(base: string, c: HttpCall) {
  const url = c.path === '/' ? base : `${base}${c.path}`;
  const response = await fetch(url, {
    method: c.method,
    headers: c.headers,
    body: c.body ?? null,
    ...(c.signal ? { signal: c.signal } : {}),
  });
  return replyOf(response.status, response.headers, await response.text());
}

export const nodeServe = socketTarget('node (serve)', async (env) => {
  const config = configFromEnv(env);
  const worker = createWorker({ ...config, name: config.name!, tasks, workflows });
  const server = await serve(worker, { port: 0, hostname: '127.0.0.1', handleSignals: false, start: false });
  return { base: server.url, worker, close: () => server.close() };
});

export const expressMount = socketTarget(
  'express mount',
  async (env) => {
    const { app, worker } = createExpressApp(env);
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const { port } = server.address() as AddressInfo;
    return { base: `http://127.0.0.1:${port}/pushworker`, worker, close: () => closeServer(server) };
  },
  { hatchet: HATCHET_NAMED },
);

export const honoMount = socketTarget(
  'hono mount',
  async (env) => {
    const { app, worker } = createHonoApp(env);
    const { server, port } = await listen(app.fetch);
    return { base: `http://127.0.0.1:${port}/pushworker`, worker, close: () => closeServer(server) };
  },
  { parentOwnsUnknownRoutes: true },
);
