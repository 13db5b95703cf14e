// Child processes of the tests: stopped with a signal and awaited, so that none outlives its test.
import type { ChildProcess } from 'node:child_process';

/** Sends `signal` to a child still running and resolves once it has exited. */
export async function stopProcess(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals = 'SIGINT',
): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}
