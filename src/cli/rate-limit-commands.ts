// `pushworker rate-limits`: lists rate limit keys with their windows, and sets a limit that overrides a task's.
import { RateLimitWindow } from '../protocol/schemas.ts';
import { type Command, defineCommand, intOption, UsageError } from './args.ts';
import { clientFrom, connectionHelp, connectionOptions } from './connection.ts';
import { table } from './format.ts';

/** `second`, `minute`, `hour`, `day` or a number of ms. */
function windowOption(value: string | undefined): RateLimitWindow {
  const parsed = RateLimitWindow.safeParse(
    value !== undefined && /^[0-9]+$/.test(value) ? Number(value) : value,
  );
  if (!parsed.success) {
    throw new UsageError(`--per takes second, minute, hour, day or a number of ms, not "${value ?? ''}"`);
  }
  return parsed.data;
}

export const rateLimits: Command = defineCommand(
  {
    usage: 'pushworker rate-limits [list | set <key> --limit N --per second|minute|hour|day|MS] [--json]',
    summary:
      'Lists rate limit keys with their limits and current windows; sets a limit that overrides a task’s.',
    options: {
      ...connectionOptions,
      json: { type: 'boolean' },
      limit: { type: 'string' },
      per: { type: 'string' },
    },
    help: [
      '--limit N       most units started per window (set)',
      '--per WINDOW    the window: second, minute, hour, day or a number of ms (set)',
      '--json          print JSON',
      ...connectionHelp,
    ],
  },
  async ({ values, positionals }, out) => {
    const [action = 'list', key] = positionals;
    const client = clientFrom(values);
    if (action === 'set') {
      if (!key) throw new UsageError('a rate limit key is needed');
      const limit = intOption(values.limit, 'limit');
      if (!limit) throw new UsageError('--limit N is needed, a whole number of at least 1');
      const view = await client.setRateLimit(key, { limit, per: windowOption(values.per) });
      if (values.json) out(JSON.stringify(view, null, 2));
      else out(`${view.key}: at most ${view.limit} per ${view.perMs} ms`);
      return 0;
    }
    if (action !== 'list') throw new UsageError(`unknown action "${action}": say list or set`);
    const list = await client.rateLimits();
    if (values.json) out(JSON.stringify(list, null, 2));
    else {
      const rows = list.map((l) => ({
        key: l.key,
        limit: l.limit,
        'per ms': l.perMs,
        used: l.window.used,
        'window ends': l.window.end,
        source: l.override ? 'set' : 'declared',
      }));
      out(table(rows, ['key', 'limit', 'per ms', 'used', 'window ends', 'source']));
    }
    return 0;
  },
);
