// Entry point of the `pushworker` command: dispatches to a command and says every failure in one line.
import { type Command, helpOf, UsageError } from './args.ts';
import { keys, register, stats, token, workers } from './client-commands.ts';
import { demo } from './demo.ts';
import { dev } from './dev.ts';
import { engine } from './engine-command.ts';
import { event } from './event-commands.ts';
import { failureOf } from './failure.ts';
import { rateLimits } from './rate-limit-commands.ts';
import { ready } from './ready.ts';
import { cancel, get, retry, run, runs } from './run-commands.ts';
import { schedules } from './schedule-commands.ts';
import { packageVersion } from './version.ts';
import { worker } from './worker-command.ts';
import { workflow } from './workflow-commands.ts';

const commands: Record<string, Command> = {
  engine,
  dev,
  demo,
  worker,
  ready,
  register,
  run,
  runs,
  get,
  cancel,
  retry,
  workflow,
  workers,
  schedules,
  event,
  stats,
  'rate-limits': rateLimits,
  keys,
  token,
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return [
    'usage: pushworker <command> [options]',
    '',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.spec.summary}`),
    '',
    "Run 'pushworker <command> --help' for a command's options, 'pushworker --version' for the version.",
  ].join('\n');
}

export async function main(argv: string[], out = (line: string) => console.log(line)): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    out(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    out(packageVersion());
    return 0;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}"; run 'pushworker --help' for the commands`);
  if (rest.includes('--help') || rest.includes('-h')) {
    out(helpOf(command.spec));
    return 0;
  }
  try {
    return await command.run(rest, out);
  } catch (error) {
    if (error instanceof UsageError)
      throw new UsageError(`${error.message} (see 'pushworker ${name} --help')`);
    throw error;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (process.env.PUSHWORKER_DEBUG) console.error(error);
    const { line, code } = failureOf(error);
    console.error(line);
    process.exitCode = code;
  },
);
