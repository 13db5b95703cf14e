// `pushworker schedules`: create, list, pause, resume and delete the engine's cron schedules.
import { MissedTicks } from '../protocol/schedules.ts';
import { type Command, defineCommand, intOption, jsonOption, UsageError } from './args.ts';
import { clientFrom, connectionHelp, connectionOptions } from './connection.ts';
import { table } from './format.ts';

export const schedules: Command = defineCommand(
  {
    usage:
      'pushworker schedules [list|create <name> --task T --cron EXPR|pause <name>|resume <name>|delete <name>] [--json]',
    summary: 'Lists cron schedules with their next ticks; creates, pauses, resumes or deletes one.',
    options: {
      ...connectionOptions,
      task: { type: 'string' },
      cron: { type: 'string' },
      input: { type: 'string' },
      timezone: { type: 'string' },
      missed: { type: 'string' },
      'backfill-limit': { type: 'string' },
      paused: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    help: [
      '--task T             (create) the task each tick enqueues a run of',
      '--cron EXPR          (create) five fields, six with seconds first, or @hourly, @daily, @weekly...',
      '--input JSON         (create) the input of each run (default none)',
      '--timezone TZ        (create) the IANA time zone the expression is read in (default UTC)',
      `--missed POLICY      (create) ticks missed while no engine ran: ${MissedTicks.options.join(', ')} (default latest)`,
      '--backfill-limit N   (create) with --missed backfill, at most this many missed ticks run (default 100)',
      '--paused             (create) create it paused',
      '--json               print JSON',
      ...connectionHelp,
    ],
  },
  async ({ values, positionals }, out) => {
    const client = clientFrom(values);
    const [action = 'list', name] = positionals;
    const print = (view: unknown, line: string) => out(values.json ? JSON.stringify(view, null, 2) : line);
    if (action === 'list') {
      const list = await client.listSchedules();
      if (values.json) out(JSON.stringify(list, null, 2));
      else {
        const rows = list.map((s) => ({
          ...s,
          state: s.paused ? 'paused' : 'active',
          next: s.nextTickAt ?? '-',
          last: s.lastTickAt ?? '-',
        }));
        out(table(rows, ['name', 'task', 'cron', 'timezone', 'state', 'source', 'next', 'last']));
      }
      return 0;
    }
    if (!['create', 'pause', 'resume', 'delete'].includes(action)) {
      throw new UsageError(`unknown action "${action}": say list, create, pause, resume or delete`);
    }
    if (!name) throw new UsageError('a schedule name is needed');
    if (action === 'create') {
      if (!values.task || !values.cron) throw new UsageError('create needs --task and --cron');
      const missed = values.missed === undefined ? undefined : MissedTicks.safeParse(values.missed);
      if (missed && !missed.success) {
        throw new UsageError(`--missed takes ${MissedTicks.options.join(', ')}, not "${values.missed}"`);
      }
      const backfillLimit = intOption(values['backfill-limit'], 'backfill-limit');
      const s = await client.createSchedule({
        name,
        task: values.task,
        cron: values.cron,
        ...(values.input === undefined ? {} : { input: jsonOption(values.input, 'input') }),
        ...(values.timezone === undefined ? {} : { timezone: values.timezone }),
        ...(missed ? { missed: missed.data } : {}),
        ...(backfillLimit === undefined ? {} : { backfillLimit }),
        ...(values.paused ? { paused: true } : {}),
      });
      print(
        s,
        `created schedule ${s.name}: ${s.task} at "${s.cron}" (${s.timezone}), next ${s.nextTickAt ?? '-'}`,
      );
      return 0;
    }
    if (action === 'delete') {
      await client.deleteSchedule(name);
      out(`deleted schedule ${name}`);
      return 0;
    }
    const s = action === 'pause' ? await client.pauseSchedule(name) : await client.resumeSchedule(name);
    print(s, `${s.name} is ${s.paused ? 'paused' : `active, next ${s.nextTickAt ?? '-'}`}`);
    return 0;
  },
);
