// Which engine a client command talks to, and with which API token.
import { createClient } from '../client/index.ts';
import type { CommandSpec } from './args.ts';
import { UsageError } from './args.ts';

export const DEFAULT_ENGINE_URL = 'http://127.0.0.1:7070';

export const connectionOptions = {
  url: { type: 'string' },
  token: { type: 'string' },
} satisfies CommandSpec['options'];

export const connectionHelp = [
  `--url URL       the engine (env PUSHWORKER_ENGINE_URL, default ${DEFAULT_ENGINE_URL})`,
  '--token TOKEN   an API token (env PUSHWORKER_API_TOKEN)',
];

export function clientFrom(values: { url?: string; token?: string }, env = process.env) {
  const url = values.url ?? env.PUSHWORKER_ENGINE_URL ?? DEFAULT_ENGINE_URL;
  const token = values.token ?? env.PUSHWORKER_API_TOKEN;
  if (!token) throw new UsageError('an API token is needed: pass --token or set PUSHWORKER_API_TOKEN');
  return createClient({ url, token });
}
