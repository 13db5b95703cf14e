// Command-line parsing on node:util's parseArgs, with one help text per command and one-line usage errors.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { z } from 'zod';

/** A mistake in how a command was called: one line, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A command that ran and did not get what it was asked for (a run that failed to finish, say): one line, exit 1. */
export class CommandFailure extends Error {
  override name = 'CommandFailure';
}

/** node:util's parser messages, said in one line each without its advice on positionals. */
function parserMistake(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  const option = /'(-[^']*)'/.exec(message ?? '')?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${option ?? ''}`.trim();
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const name = /--?[\w-]+/.exec(message ?? '')?.[0] ?? option ?? 'an option';
    return /argument missing/.test(message ?? '') ? `${name} needs a value` : `${name} takes no value`;
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument ${option ?? ''}`.trim();
  return (message ?? String(error)).split('\n')[0]!;
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>
>;
export type Out = (line: string) => void;

export interface CommandSpec<O extends Options = Options> {
  usage: string;
  summary: string;
  options: O;
  /** One line per option, shown by --help. */
  help: string[];
}

export interface Command {
  spec: CommandSpec;
  run(argv: string[], out: Out): Promise<number>;
}

/** A command whose `run` receives its arguments parsed and typed by its own options. */
export function defineCommand<const O extends Options>(
  spec: CommandSpec<O>,
  run: (args: Parsed<O> & { usage: string }, out: Out) => Promise<number>,
): Command {
  return {
    spec,
    run: (argv, out) => {
      let parsed: Parsed<O>;
      try {
        parsed = parseArgs({ args: argv, options: spec.options, allowPositionals: true, strict: true });
      } catch (error) {
        throw new UsageError(parserMistake(error));
      }
      return run({ ...parsed, usage: spec.usage }, out);
    },
  };
}

export function helpOf(spec: CommandSpec): string {
  return [`usage: ${spec.usage}`, '', spec.summary, '', ...spec.help.map((l) => `  ${l}`)].join('\n');
}

export function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} takes a whole number, not "${value}"`);
  return n;
}

export function jsonOption(value: string | undefined, name: string): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    throw new UsageError(`--${name} is not valid JSON: ${value}`);
  }
}

/** `--state A,B`, each one of `schema`'s states. */
export function statesOption<S extends string>(value: string, schema: z.ZodEnum<{ [K in S]: K }>): S[] {
  const states = value.split(',').map((s) => s.trim().toUpperCase());
  const bad = states.filter((s) => !schema.safeParse(s).success);
  if (bad.length > 0)
    throw new UsageError(`--state takes ${schema.options.join(', ')}, not ${bad.join(', ')}`);
  return states as S[];
}
