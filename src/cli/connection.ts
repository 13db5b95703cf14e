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

/** The engine's base URL, from `--url`, `PUSHWORKER_ENGINE_URL` or the default; refused unless http(s). */
export function engineUrlFrom(values: { url?: string }, env = process.env): string {
  const given = values.url ?? env.PUSHWORKER_ENGINE_URL ?? DEFAULT_ENGINE_URL;
  const from = values.url !== undefined ? '--url' : 'PUSHWORKER_ENGINE_URL';
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new UsageError(`${from} "${given}" is not a URL; give one such as ${DEFAULT_ENGINE_URL}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(
      `${from} "${given}" is not an http:// or https:// URL; give one such as ${DEFAULT_ENGINE_URL}`,
    );
  }
  return given.replace(/\/+$/, '');
}

export function clientFrom(values: { url?: string; token?: string }, env = process.env) {
  const url = engineUrlFrom(values, env);
  const token = values.token ?? env.PUSHWORKER_API_TOKEN;
  if (!token) throw new UsageError('an API token is needed: pass --token or set PUSHWORKER_API_TOKEN');
  return createClient({ url, token });
}
