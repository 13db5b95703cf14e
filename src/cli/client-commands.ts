// Commands that operate a running engine's workers, keys and tokens through its API.

import { generateSigningKey } from '../auth/keys.ts';
import { parseToken } from '../auth/tokens.ts';
import { newEncryptionKey } from '../engine/key-seal.ts';
import { ApiScope } from '../protocol/schemas.ts';
import { type Command, CommandFailure, defineCommand, UsageError } from './args.ts';
import { clientFrom, connectionHelp, connectionOptions, engineUrlFrom } from './connection.ts';
import { ago, table } from './format.ts';

export const register: Command = defineCommand(
  {
    usage: 'pushworker register <worker url> [--name NAME] [--url URL] [--token TOKEN]',
    summary: 'Registers a serverless worker: the engine pulls its signed manifest from the URL.',
    options: { ...connectionOptions, name: { type: 'string' } },
    help: ['--name NAME     the worker name, when the endpoint cannot be asked for it', ...connectionHelp],
  },
  async ({ values, positionals }, out) => {
    const [url] = positionals;
    if (!url) throw new UsageError(`a worker URL is needed`);
    const worker = await clientFrom(values).registerWorker(url, values.name);
    out(
      `registered ${worker.name} (${worker.id}) with ${worker.tasks.length} tasks and ${worker.slots.total} slots`,
    );
    return 0;
  },
);

export const workers: Command = defineCommand(
  {
    usage: 'pushworker workers [pause|resume|remove <worker id>] [--json]',
    summary:
      'Lists workers with their state, slots, labels, last heartbeat and push failures; pauses, resumes or removes one.',
    options: { ...connectionOptions, json: { type: 'boolean' } },
    help: ['--json          print JSON', ...connectionHelp],
  },
  async ({ values, positionals }, out) => {
    const client = clientFrom(values);
    const [action, id] = positionals;
    if (action === 'pause' || action === 'resume') {
      if (!id) throw new UsageError(`a worker id is needed`);
      const w = action === 'pause' ? await client.pauseWorker(id) : await client.resumeWorker(id);
      out(`${w.name} (${w.id}) is ${w.state}`);
      return 0;
    }
    if (action === 'remove') {
      if (!id) throw new UsageError('a worker id is needed');
      await client.deleteWorker(id);
      out(`removed worker ${id}`);
      return 0;
    }
    if (action) throw new UsageError(`unknown action "${action}": say pause, resume or remove`);
    const list = await client.listWorkers();
    if (values.json) out(JSON.stringify(list, null, 2));
    else {
      const rows = list.map((w) => ({
        id: w.id,
        name: w.name,
        state: w.state,
        slots: `${w.slots.used}/${w.slots.total}`,
        labels: Object.entries(w.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
        tasks: w.tasks.map((t) => t.name).join(','),
        heartbeat: ago(w.lastHeartbeatAt),
        problem: w.pushFailing
          ? `push failing since ${ago(w.pushFailing.since)}: ${w.pushFailing.reason}`
          : '',
      }));
      out(table(rows, ['id', 'name', 'state', 'slots', 'labels', 'tasks', 'heartbeat', 'problem']));
    }
    return 0;
  },
);

export const stats: Command = defineCommand(
  {
    usage: 'pushworker stats [--json]',
    summary: 'Queue depth and running runs per task: the numbers an autoscaler reads.',
    options: { ...connectionOptions, json: { type: 'boolean' } },
    help: ['--json          print JSON', ...connectionHelp],
  },
  async ({ values }, out) => {
    const list = await clientFrom(values).taskStats();
    if (values.json) out(JSON.stringify(list, null, 2));
    else {
      const rows = list.map((s) => ({ ...s, slots: `${s.slots.used}/${s.slots.total}` }));
      out(table(rows, ['task', 'queued', 'ready', 'assigned', 'running', 'workers', 'slots']));
    }
    return 0;
  },
);

export const keys: Command = defineCommand(
  {
    usage: 'pushworker keys <print|rotate|generate|encryption-key>',
    summary:
      'print: the engine JWKS (what workers trust). rotate: a new key signs from now on, old keys stay published. ' +
      'generate: a new Ed25519 private JWK for PUSHWORKER_SIGNING_KEY, offline. ' +
      'encryption-key: a new key for PUSHWORKER_KEY_ENCRYPTION_KEYS, offline.',
    options: { ...connectionOptions },
    help: [...connectionHelp],
  },
  async ({ values, positionals }, out) => {
    const [action] = positionals;
    if (action === 'generate') {
      out(JSON.stringify((await generateSigningKey('EdDSA')).privateJwk));
      return 0;
    }
    if (action === 'encryption-key') {
      out(newEncryptionKey());
      return 0;
    }
    if (action === 'print') {
      const response = await fetch(`${engineUrlFrom(values)}/.well-known/jwks.json`);
      if (!response.ok) throw new CommandFailure(`the engine answered ${response.status} for its JWKS`);
      out(JSON.stringify(await response.json(), null, 2));
      return 0;
    }
    if (action === 'rotate') {
      const { kid } = await clientFrom(values).rotateKeys();
      out(`rotated: new signing key ${kid}; earlier keys stay published until they retire`);
      return 0;
    }
    throw new UsageError('say print, rotate, generate or encryption-key');
  },
);

export const token: Command = defineCommand(
  {
    usage:
      'pushworker token create (--worker NAME | --api [--scope read|enqueue|admin]) | pushworker token revoke ID|TOKEN',
    summary:
      'Mints a token: a worker token scoped to one worker name, or an API token of a scope (default admin). ' +
      'It is shown once; its id is the part between the dots. Revokes a minted token by its id or by itself.',
    options: {
      ...connectionOptions,
      worker: { type: 'string' },
      api: { type: 'boolean' },
      scope: { type: 'string' },
    },
    help: [
      '--worker NAME   a worker token for this worker name',
      '--api           an API token',
      `--scope SCOPE   what the API token may do: ${ApiScope.options.join(', ')} (default admin; implies --api)`,
      ...connectionHelp,
    ],
  },
  async ({ values, positionals }, out) => {
    if (positionals[0] === 'revoke') {
      const given = positionals[1];
      if (!given || positionals.length > 2) throw new UsageError('say revoke and the token or its id');
      const id = parseToken(given)?.id ?? given;
      await clientFrom(values).revokeToken(id);
      out(`token ${id} is revoked`);
      return 0;
    }
    const api = values.api || values.scope !== undefined;
    if (positionals[0] !== 'create' || (!values.worker && !api) || (values.worker && api)) {
      throw new UsageError('say create, with --worker NAME or --api [--scope SCOPE], or revoke ID');
    }
    const scope = values.scope === undefined ? undefined : ApiScope.safeParse(values.scope);
    if (scope && !scope.success) {
      throw new UsageError(`unknown scope "${values.scope}": say ${ApiScope.options.join(', ')}`);
    }
    const client = clientFrom(values);
    const minted = api
      ? await client.createToken('api', undefined, scope?.data)
      : await client.createToken('worker', values.worker);
    out(minted.token);
    return 0;
  },
);
