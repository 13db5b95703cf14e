// The example Node worker as a child process, pointed at a test engine.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { until } from '../../support/until.ts';

const script = fileURLToPath(new URL('../../../examples/node/worker.ts', import.meta.url));

export interface ExampleWorker {
  process: ChildProcess;
  url: string;
  output: () => string;
}

export async function spawnExampleWorker(o: {
  engineUrl: string;
  token: string;
  name: string;
  slots?: number;
  /** PUSHWORKER_LABELS, e.g. `{ region: 'eu' }`. */
  labels?: Record<string, string>;
}): Promise<ExampleWorker> {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: {
      ...process.env,
      // Port 0 on loopback: the worker binds a free port, registers that address and logs it.
      PORT: '0',
      HOST: '127.0.0.1',
      PUSHWORKER_NAME: o.name,
      PUSHWORKER_SLOTS: String(o.slots ?? 4),
      PUSHWORKER_JWKS_URL: `${o.engineUrl}/.well-known/jwks.json`,
      PUSHWORKER_ENGINE_URL: o.engineUrl,
      PUSHWORKER_TOKEN: o.token,
      PUSHWORKER_HEARTBEAT_MS: '200',
      ...(o.labels
        ? {
            PUSHWORKER_LABELS: Object.entries(o.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(','),
          }
        : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const url = await until(
    () =>
      /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ??
      (child.exitCode !== null ? 'exited' : undefined),
    `the example worker ${o.name} to listen`,
    { timeoutMs: 45_000, everyMs: 50, detail: () => output },
  );
  if (url === 'exited') throw new Error(`the example worker ${o.name} exited: ${output}`);
  return { process: child, url: `${url}/`, output: () => output };
}

export async function stopExampleWorker(
  worker: ExampleWorker,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (worker.process.exitCode !== null || worker.process.signalCode !== null) return;
  const exited = new Promise((resolve) => worker.process.once('exit', resolve));
  worker.process.kill(signal);
  await exited;
}
