// `pushworker ready`: waits until the engine answers its health check, so that a script can start it and go on.
import { type Command, CommandFailure, defineCommand, intOption } from './args.ts';
import { connectionHelp, connectionOptions, engineUrlFrom } from './connection.ts';

export const ready: Command = defineCommand(
  {
    usage: 'pushworker ready [--timeout-ms N] [--url URL]',
    summary: 'Waits until the engine answers /health (after `pushworker engine &`, before the next command).',
    options: { ...connectionOptions, 'timeout-ms': { type: 'string' } },
    help: ['--timeout-ms N   how long to wait (default 60000)', ...connectionHelp],
  },
  async ({ values }, out) => {
    const url = engineUrlFrom(values);
    const deadline = Date.now() + (intOption(values['timeout-ms'], 'timeout-ms') ?? 60_000);
    let last = 'no answer yet';
    for (;;) {
      try {
        const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
        if (response.ok) {
          out(`the engine at ${url} is ready`);
          return 0;
        }
        last = `it answered ${response.status}`;
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause;
        last = cause?.code ?? (error as Error).message;
      }
      if (Date.now() >= deadline) throw new CommandFailure(`the engine at ${url} is not ready (${last})`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  },
);
