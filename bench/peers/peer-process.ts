// The protocol between the peers benchmark and a peer's process (graphile-worker, pg-boss): the process prepares
// its schema, says `ready`, then starts and stops processing on request with the settings it is sent, and answers
// each stop with the time each job's task started (Date.now() inside the task, keyed by the job's number).
import { type ChildProcess, fork } from 'node:child_process';
import { bundled } from '../bundle.mjs';

/** The task (graphile-worker) or queue (pg-boss) of the no-op jobs. */
export const PEER_TASK = 'noop';

export type Settings = Record<string, unknown>;
type Request = { start: Settings } | 'stop' | 'exit';
type Answer = 'ready' | 'started' | { starts: [number, number][] };

export interface PeerProcess {
  child: ChildProcess;
  start(settings: Settings): Promise<void>;
  /** Stops processing; the task start times noted since the last stop. */
  stop(): Promise<Map<number, number>>;
  close(): Promise<void>;
}

/** In the peer's process: serves the benchmark's requests once `prepare` has run. */
export async function servePeer(peer: {
  prepare(): Promise<void>;
  start(settings: Settings, started: (job: number) => void): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}): Promise<void> {
  let starts: [number, number][] = [];
  const started = (job: number) => starts.push([job, Date.now()]);
  const answer = (a: Answer) => process.send!(a);
  await peer.prepare();
  process.on('message', async (m: Request) => {
    if (m === 'exit') {
      await peer.close();
      process.exit(0);
    } else if (m === 'stop') {
      await peer.stop();
      answer({ starts });
      starts = [];
    } else {
      await peer.start(m.start, started);
      answer('started');
    }
  });
  answer('ready');
}

/** Forks a peer's process (compiled, as the engine's is) from `source` under bench/peers/, once it is ready. */
export async function forkPeer(source: string, env: Record<string, string>): Promise<PeerProcess> {
  const bundle = await bundled(`bench/peers/${source}`, `bench-peer-${source.replace(/\.ts$/, '')}`, [
    'bench',
  ]);
  const child = fork(bundle ? new URL(bundle) : new URL(source, import.meta.url), [], {
    env: { ...process.env, ...env },
    execArgv: bundle ? [] : ['--import', 'tsx'],
  });
  const next = () =>
    new Promise<Answer>((resolve, reject) => {
      const exited = (code: number | null) => reject(new Error(`${source} exited with ${code}`));
      child.once('exit', exited);
      child.once('message', (m) => {
        child.off('exit', exited);
        resolve(m as Answer);
      });
    });
  await next();
  return {
    child,
    async start(settings) {
      const answered = next();
      child.send({ start: settings } satisfies Request);
      await answered;
    },
    async stop() {
      const answered = next();
      child.send('stop' satisfies Request);
      const answer = await answered;
      return new Map(typeof answer === 'object' ? answer.starts : []);
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.send('exit' satisfies Request);
      await exited;
    },
  };
}
