// Entry point of the `pushworker` command: dispatches to a command, prints user mistakes as one line.
import { PushworkerError } from '../protocol/errors.ts';
import { type Command, helpOf, UsageError } from './args.ts';
import { keys, register, run, stats, token, workers } from './client-commands.ts';
import { demo } from './demo.ts';
import { dev } from './dev.ts';
import { engine } from './engine-command.ts';

const commands: Record<string, Command> = { engine, dev, demo, register, run, workers, stats, keys, token };

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return [
    'usage: pushworker <command> [options]',
    '',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.spec.summary}`),
    '',
    "Run 'pushworker <command> --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: string[], out = (line: string) => console.log(line)): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    out(usage());
    return name ? 0 : 1;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}"\n\n${usage()}`);
  if (rest.includes('--help') || rest.includes('-h')) {
    out(helpOf(command.spec));
    return 0;
  }
  return command.run(rest, out);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const known = error instanceof UsageError || error instanceof PushworkerError;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    if (known) console.error(`pushworker: ${(error as Error).message}`);
    else if (error instanceof TypeError && error.message === 'fetch failed') {
      console.error(`pushworker: cannot reach the engine (${cause?.code ?? cause?.message}); is it running?`);
    } else if (process.env.PUSHWORKER_DEBUG) console.error(error);
    else
      console.error(`pushworker: ${(error as Error).message ?? error} (set PUSHWORKER_DEBUG=1 for details)`);
    process.exitCode = known && error instanceof UsageError ? 2 : 1;
  },
);
