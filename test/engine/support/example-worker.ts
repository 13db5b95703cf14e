// The example Node worker as a child process, pointed at a test engine.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../../src/cli/ports.ts';

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
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: {
      ...process.env,
      PORT: String(port),
      PUSHWORKER_NAME: o.name,
      PUSHWORKER_SLOTS: String(o.slots ?? 4),
      PUSHWORKER_JWKS_URL: `${o.engineUrl}/.well-known/jwks.json`,
      PUSHWORKER_ENGINE_URL: o.engineUrl,
      PUSHWORKER_TOKEN: o.token,
      PUSHWORKER_URL: url,
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
  return { process: child, url, output: () => output };
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
