// Commands that operate a running engine through its API: register, run, workers, stats, keys, token.
import { generateSigningKey } from '../auth/keys.ts';
import { type Command, defineCommand, intOption, jsonOption, UsageError } from './args.ts';
import { clientFrom, connectionHelp, connectionOptions, DEFAULT_ENGINE_URL } from './connection.ts';
import { ago, table } from './format.ts';

export const register: Command = defineCommand(
  {
    usage: 'pushworker register <worker url> [--name NAME] [--url URL] [--token TOKEN]',
    summary: 'Registers a serverless worker: the engine pulls its signed manifest from the URL.',
    options: { ...connectionOptions, name: { type: 'string' } },
    help: ['--name NAME     the worker name, when the endpoint cannot be asked for it', ...connectionHelp],
  },
  async ({ values, positionals, usage }, out) => {
    const [url] = positionals;
    if (!url) throw new UsageError(`a worker URL is needed\nusage: ${usage}`);
    const worker = await clientFrom(values).registerWorker(url, values.name);
    out(
      `registered ${worker.name} (${worker.id}) with ${worker.tasks.length} tasks and ${worker.slots.total} slots`,
    );
    return 0;
  },
);

export const run: Command = defineCommand(
  {
    usage:
      'pushworker run <task> [--input JSON] [--wait] [--timeout-ms N] [--idempotency-key KEY] [--priority N]',
    summary: 'Enqueues a run of a task; with --wait, prints its result when it is done.',
    options: {
      ...connectionOptions,
      input: { type: 'string' },
      wait: { type: 'boolean' },
      'timeout-ms': { type: 'string' },
      'idempotency-key': { type: 'string' },
      priority: { type: 'string' },
    },
    help: [
      '--input JSON            the task input (default {})',
      '--wait                  wait for the result; exit 1 when the run failed',
      '--timeout-ms N          how long to wait (default 60000)',
      '--idempotency-key KEY   enqueue at most once per key',
      '--priority N            higher runs first',
      ...connectionHelp,
    ],
  },
  async ({ values, positionals, usage }, out) => {
    const [task] = positionals;
    if (!task) throw new UsageError(`a task name is needed\nusage: ${usage}`);
    const client = clientFrom(values);
    const priority = intOption(values.priority, 'priority');
    const enqueued = await client.enqueue({
      task,
      input: jsonOption(values.input, 'input') ?? {},
      ...(values['idempotency-key'] ? { idempotencyKey: values['idempotency-key'] } : {}),
      ...(priority === undefined ? {} : { priority }),
    });
    if (!values.wait) {
      out(JSON.stringify({ id: enqueued.id, state: enqueued.state, created: enqueued.created }));
      return 0;
    }
    const done = await client.waitRun(enqueued.id, {
      timeoutMs: intOption(values['timeout-ms'], 'timeout-ms'),
    });
    out(
      JSON.stringify({
        id: done.id,
        state: done.state,
        attempt: done.attempt,
        output: done.output,
        error: done.error,
      }),
    );
    if (done.state === 'COMPLETED') return 0;
    if (done.state === 'FAILED' || done.state === 'CANCELLED') return 1;
    throw new UsageError(`the run is still ${done.state} after the wait`);
  },
);

export const workers: Command = defineCommand(
  {
    usage: 'pushworker workers [pause|resume <worker id>] [--json]',
    summary: 'Lists workers with their state, slots, labels and last heartbeat; pauses or resumes one.',
    options: { ...connectionOptions, json: { type: 'boolean' } },
    help: ['--json          print JSON', ...connectionHelp],
  },
  async ({ values, positionals, usage }, out) => {
    const client = clientFrom(values);
    const [action, id] = positionals;
    if (action === 'pause' || action === 'resume') {
      if (!id) throw new UsageError(`a worker id is needed\nusage: ${usage}`);
      const w = action === 'pause' ? await client.pauseWorker(id) : await client.resumeWorker(id);
      out(`${w.name} (${w.id}) is ${w.state}`);
      return 0;
    }
    if (action) throw new UsageError(`unknown action "${action}"\nusage: ${usage}`);
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
      }));
      out(table(rows, ['id', 'name', 'state', 'slots', 'labels', 'tasks', 'heartbeat']));
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
    usage: 'pushworker keys <print|rotate|generate>',
    summary:
      'print: the engine JWKS (what workers trust). rotate: a new key signs from now on, old keys stay published. ' +
      'generate: a new Ed25519 private JWK for PUSHWORKER_SIGNING_KEY, offline.',
    options: { ...connectionOptions },
    help: [...connectionHelp],
  },
  async ({ values, positionals, usage }, out) => {
    const [action] = positionals;
    if (action === 'generate') {
      out(JSON.stringify((await generateSigningKey('EdDSA')).privateJwk));
      return 0;
    }
    if (action === 'print') {
      const url = values.url ?? process.env.PUSHWORKER_ENGINE_URL ?? DEFAULT_ENGINE_URL;
      const response = await fetch(`${url.replace(/\/$/, '')}/.well-known/jwks.json`);
      if (!response.ok) throw new UsageError(`the engine answered ${response.status} for its JWKS`);
      out(JSON.stringify(await response.json(), null, 2));
      return 0;
    }
    if (action === 'rotate') {
      const { kid } = await clientFrom(values).rotateKeys();
      out(`rotated: new signing key ${kid}; earlier keys stay published until they retire`);
      return 0;
    }
    throw new UsageError(`usage: ${usage}`);
  },
);

export const token: Command = defineCommand(
  {
    usage: 'pushworker token create (--worker NAME | --api)',
    summary: 'Mints a token: a worker token scoped to one worker name, or an API token. It is shown once.',
    options: { ...connectionOptions, worker: { type: 'string' }, api: { type: 'boolean' } },
    help: [
      '--worker NAME   a worker token for this worker name',
      '--api           an API token',
      ...connectionHelp,
    ],
  },
  async ({ values, positionals, usage }, out) => {
    if (positionals[0] !== 'create' || (!values.worker && !values.api) || (values.worker && values.api)) {
      throw new UsageError(`usage: ${usage}`);
    }
    const minted = await clientFrom(values).createToken(values.api ? 'api' : 'worker', values.worker);
    out(minted.token);
    return 0;
  },
);
