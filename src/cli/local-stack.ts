// An embedded engine plus one worker process wired to it: what `pushworker dev` and the demo run.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type Client, createClient, type WorkerView } from '../client/index.ts';
import {
  createEngine,
  type Engine,
  type EngineOptions,
  type ServedEngine,
  serveEngine,
} from '../engine/index.ts';
import { holdAddress, listenedUrl } from './held-address.ts';
import { workerProcessArgs } from './worker-process.ts';

export interface LocalStackOptions {
  port: number;
  engine: EngineOptions;
  workerFile: string;
  workerName: string;
  /** Restart the worker when its code changes. */
  watch?: boolean;
  workerEnv?: Record<string, string>;
  /** Each line the worker prints. */
  onWorkerLine: (line: string) => void;
  /** The API token to accept (the user's exported one); a new one is made when it is not given. */
  apiToken?: string | undefined;
}

export interface LocalStack {
  engine: Engine;
  served: ServedEngine;
  client: Client;
  apiToken: string;
  /** The worker's address (its PUSHWORKER_URL), the same across reloads; forwarded to the port it binds. */
  workerUrl: string;
  worker: ChildProcess;
  workerExit: Promise<number | null>;
  /** Waits until the worker is registered and ACTIVE; resolves to it. */
  waitForWorker(timeoutMs?: number): Promise<WorkerView>;
  stop(): Promise<void>;
}

export async function startLocalStack(o: LocalStackOptions): Promise<LocalStack> {
  const apiToken = o.apiToken ?? `pwa_${randomBytes(24).toString('base64url')}`;
  // Its worker listens on loopback.
  const engine = await createEngine({ ...o.engine, apiTokens: [apiToken], allowPrivateTargets: true });
  const served = await serveEngine(engine, { port: o.port, hostname: '127.0.0.1' });
  const client = createClient({ url: served.url, token: apiToken });
  const workerToken = await engine.createToken('worker', o.workerName);
  // The worker is told PORT=0 and binds a port of its own, which it names in its listen line; it registers at an
  // address held here, bound before it starts and forwarded to that port, the same across reloads. A worker
  // file that runs a server of its own takes PORT and PUSHWORKER_URL, and prints `listening on http://HOST:PORT`.
  const address = await holdAddress();
  const worker = spawn(process.execPath, workerProcessArgs(o.workerFile, o.watch ?? false), {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      PUSHWORKER_NAME: o.workerName,
      PUSHWORKER_ENGINE_URL: served.url,
      PUSHWORKER_TOKEN: workerToken.token,
      PUSHWORKER_JWKS_URL: `${served.url}/.well-known/jwks.json`,
      PUSHWORKER_URL: address.url,
      ...o.workerEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [worker.stdout!, worker.stderr!]) {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        const url = listenedUrl(line);
        if (url) address.forwardTo(url);
        if (line.trim()) o.onWorkerLine(line);
      }
    });
  }
  const workerExit = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));

  return {
    engine,
    served,
    client,
    apiToken,
    workerUrl: address.url,
    worker,
    workerExit,
    async waitForWorker(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const ready = (await client.listWorkers()).find(
          (w) => w.name === o.workerName && w.state === 'ACTIVE',
        );
        if (ready) return ready;
        if (worker.exitCode !== null) throw new Error(`the worker exited with code ${worker.exitCode}`);
        if (Date.now() > deadline) throw new Error(`the worker did not register within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      if (worker.exitCode === null && worker.signalCode === null) {
        worker.kill('SIGTERM');
        const timer = setTimeout(() => worker.kill('SIGKILL'), 15_000);
        await workerExit;
        clearTimeout(timer);
      }
      await address.close();
      await served.close();
    },
  };
}
