// A target deployed against a real engine and registered with it; a target without a socket (Lambda) is reached
// through a loopback front, as a trigger fronts a function.
import type { Harness } from '../support/engine.ts';
import { closeServer, listen } from '../support/sink.ts';
import { type Deployment, type EngineWiring, type TargetFactory, WORKER_NAME } from './targets/target.ts';

export interface EngineDeployment {
  close(): Promise<void>;
}

export async function deployOnEngine(factory: TargetFactory, h: Harness): Promise<EngineDeployment> {
  const wiring: EngineWiring = {
    engineUrl: h.url,
    jwks: (await (await fetch(`${h.url}/.well-known/jwks.json`)).json()) as EngineWiring['jwks'],
    token: (await h.engine.createToken('worker', WORKER_NAME)).token,
  };
  const deployment = await factory.deploy(wiring);
  const front = deployment.url ? undefined : await httpFrontOf(deployment);
  const close = async () => {
    await deployment.close();
    if (front) await closeServer(front.server);
  };
  try {
    await h.client.registerWorker(deployment.url ?? front!.url, WORKER_NAME);
  } catch (error) {
    await close();
    throw error;
  }
  return { close };
}

async function httpFrontOf(deployment: Deployment) {
  const { server, port } = await listen(async (request) => {
    const method = request.method === 'POST' ? 'POST' : 'GET';
    const reply = await deployment.call({
      method,
      path: new URL(request.url).pathname,
      headers: Object.fromEntries(request.headers),
      ...(method === 'POST' ? { body: await request.text() } : {}),
    });
    const headers = new Headers(reply.headers);
    headers.delete('content-length');
    return new Response(reply.text, { status: reply.status, headers });
  });
  return { server, url: `http://127.0.0.1:${port}` };
}
