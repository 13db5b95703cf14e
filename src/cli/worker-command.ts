// `pushworker worker`: runs a worker file (the example worker by default) configured from the environment.
import { spawn } from 'node:child_process';
import { type Command, defineCommand } from './args.ts';
import { exampleWorkerFile, workerProcessArgs } from './worker-process.ts';

export const worker: Command = defineCommand(
  {
    usage: 'pushworker worker [worker file] [--watch]',
    summary:
      'Runs a worker file configured by PUSHWORKER_* variables (default: the example worker: echo, sleep, fail).',
    options: { watch: { type: 'boolean' } },
    help: [
      'worker file   a JavaScript file, or a TypeScript file when tsx is installed (default: the example worker)',
      '--watch       restart it when its code changes',
    ],
  },
  async ({ values, positionals }) => {
    const file = positionals[0] ?? exampleWorkerFile();
    const child = spawn(process.execPath, workerProcessArgs(file, values.watch ?? false), {
      stdio: 'inherit',
    });
    // The worker drains on SIGTERM and SIGINT itself; this process passes them on and waits for it.
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGTERM', forward).on('SIGINT', forward);
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  },
);
