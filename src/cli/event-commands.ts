// `pushworker event`: publishes an event (a run of each task listening for it) and lists published events.
import { type Command, defineCommand, intOption, jsonOption, UsageError } from './args.ts';
import { clientFrom, connectionHelp, connectionOptions } from './connection.ts';
import { table } from './format.ts';

export const event: Command = defineCommand(
  {
    usage:
      'pushworker event [publish <name> [--payload JSON] [--key K] [--id ID] | list [--name N]] [--json]',
    summary:
      'Publishes an event, which enqueues a run of each task listening for it; lists published events.',
    options: {
      ...connectionOptions,
      payload: { type: 'string' },
      key: { type: 'string' },
      id: { type: 'string' },
      name: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
    help: [
      '--payload JSON   (publish) the input of every run the event enqueues',
      '--key K          (publish) what the event is about; (list) only events of this key',
      '--id ID          (publish) publishing one id again answers with the first and enqueues nothing',
      '--name N         (list) only events of this name',
      '--limit N        (list) most events shown (default 50)',
      '--json           print JSON',
      ...connectionHelp,
    ],
  },
  async ({ values, positionals }, out) => {
    const client = clientFrom(values);
    const [action = 'list', name] = positionals;
    if (action === 'list') {
      const limit = intOption(values.limit, 'limit');
      const { events } = await client.listEvents({
        ...(values.name === undefined ? {} : { name: values.name }),
        ...(values.key === undefined ? {} : { key: values.key }),
        ...(limit === undefined ? {} : { limit }),
      });
      if (values.json) out(JSON.stringify(events, null, 2));
      else {
        const rows = events.map((e) => ({ ...e, key: e.key ?? '-', runs: e.runs.length }));
        out(table(rows, ['id', 'name', 'key', 'runs', 'createdAt']));
      }
      return 0;
    }
    if (action !== 'publish') throw new UsageError(`unknown action "${action}": say publish or list`);
    if (!name) throw new UsageError('publish needs an event name');
    const published = await client.publish({
      name,
      ...(values.payload === undefined ? {} : { payload: jsonOption(values.payload, 'payload') }),
      ...(values.key === undefined ? {} : { key: values.key }),
      ...(values.id === undefined ? {} : { id: values.id }),
    });
    if (values.json) out(JSON.stringify(published, null, 2));
    else {
      const what = published.created ? 'published' : 'already published';
      const runs = published.runs.map((r) => `${r.task} ${r.id}`).join(', ') || 'no listening task';
      out(`${what} ${published.name} as ${published.id}: ${runs}`);
    }
    return 0;
  },
);
