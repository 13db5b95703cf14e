// Child processes of the soak: spawn with output captured to a file, wait for readiness, stop with a signal.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { listenedUrl } from '../src/cli/held-address.ts';

export { type HeldAddress, holdAddress } from '../src/cli/held-address.ts';

export interface Child {
  process: ChildProcess;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs a TypeScript file with tsx; stdout and stderr are appended to `logFile`. */
export function spawnScript(script: string, env: Record<string, string>, logFile: string): Child {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { process: child, logFile, exited };
}

export function alive(child: Child | undefined): boolean {
  return !!child && child.process.exitCode === null && child.process.signalCode === null;
}

/** Sends `signal` and waits for the exit; escalates to SIGKILL after `graceMs`. */
export async function stopChild(child: Child, signal: NodeJS.Signals, graceMs = 30_000) {
  if (!alive(child)) return child.exited;
  child.process.kill(signal);
  const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
  const result = await child.exited;
  clearTimeout(timer);
  return result;
}

/** Polls `check` every 50 ms until it is truthy; throws after `timeoutMs`. */
export async function until<T>(check: () => Promise<T> | T, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve()
      .then(check)
      .catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The URL in the child's listen line, once it is in its log (it was started on port 0); throws if it exits first. */
export async function listening(child: Child, what: string, timeoutMs = 60_000): Promise<string> {
  const url = await until(
    () => (alive(child) ? listenedUrl(tail(child.logFile, Number.POSITIVE_INFINITY)) : 'exited'),
    `${what} to listen`,
    timeoutMs,
  );
  if (!url || url === 'exited') throw new Error(`${what} exited:\n${tail(child.logFile)}`);
  return url;
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
