// The embedded database's own thread: PGlite runs here, so its WebAssembly work never blocks the engine's
// event loop. Its messages are those of `pglite-messages.ts`; `pglite.ts` sends them, and they run one at a time.
import { parentPort as parent, workerData } from 'node:worker_threads';
import './pglite-file-modes.ts';
import { PGlite, parse, protocol } from '@electric-sql/pglite';
import { concatBytes } from '../../http/body.ts';
import type { Reply, Request, ThreadData, ThreadError } from './pglite-messages.ts';
import { MAX_PREPARED_STATEMENTS, type Row } from './sql.ts';

const parentPort = parent!;
const data = workerData as ThreadData;

const db = data.dataDir ? await PGlite.create(data.dataDir, data.options) : await PGlite.create(data.options);

/**
 * Statements are prepared once and then only bound and executed. PGlite's `query` parses and plans on every
 * call, in six trips into WebAssembly; the queue's statements cost several times more to plan than to run.
 * Values are serialised and rows parsed by PGlite's own serializers and parsers, as its `query` does.
 */
const statements = new Map<string, { name: string; types: number[] }>();

async function query(text: string, params: unknown[]): Promise<Row[]> {
  if (statements.size >= MAX_PREPARED_STATEMENTS && !statements.has(text)) {
    return (await db.query<Row>(text, params)).rows; // a statement text built per call: not worth keeping
  }
  let statement = statements.get(text);
  if (!statement) {
    const name = `pw_${statements.size + 1}`;
    const messages = await db.execProtocolStream(
      concatBytes([
        protocol.serialize.parse({ name, text }),
        protocol.serialize.describe({ type: 'S', name }),
        protocol.serialize.sync(),
      ]),
      { syncToFs: false },
    );
    statement = { name, types: parse.parseDescribeStatementResults(messages) };
    statements.set(text, statement);
  }
  const values = params.map((value, i) => {
    if (value === null || value === undefined) return null;
    const serialize = db.serializers[statement.types[i]!];
    return serialize ? serialize(value) : String(value);
  });
  const messages = await db.execProtocolStream(
    concatBytes([
      protocol.serialize.bind({ statement: statement.name, values }),
      protocol.serialize.describe({ type: 'P' }),
      protocol.serialize.execute({}),
      protocol.serialize.sync(),
    ]),
    { syncToFs: false },
  );
  await db.syncToFs();
  return (parse.parseResults(messages, db.parsers)[0]?.rows ?? []) as Row[];
}

const unlisten = new Map<string, () => Promise<void>>();

async function handle(message: Request): Promise<Row[]> {
  switch (message.kind) {
    case 'query':
      if (message.begin) await db.exec('BEGIN');
      return query(message.text, message.params);
    case 'exec': {
      const results = await db.exec(message.text);
      // A transaction that met an error commits as a rollback: that must not pass for a commit.
      if (message.text === 'COMMIT' && results[0]?.command === 'ROLLBACK')
        throw new Error('the transaction was aborted and rolled back');
      return [];
    }
    case 'listen':
      if (!unlisten.has(message.channel)) {
        const off = await db.listen(message.channel, (payload) =>
          reply({ channel: message.channel, payload }),
        );
        unlisten.set(message.channel, off);
      }
      return [];
    case 'unlisten':
      await unlisten.get(message.channel)?.();
      unlisten.delete(message.channel);
      return [];
    case 'close':
      if (!db.closed) await db.close();
      return [];
  }
}

/** Database errors keep their SQLSTATE and fields across the thread boundary. */
function errorOf(error: unknown): ThreadError {
  const fields = (error ?? {}) as Record<string, unknown>;
  const out: ThreadError = { message: typeof fields.message === 'string' ? fields.message : String(error) };
  for (const key of [
    'name',
    'code',
    'detail',
    'hint',
    'severity',
    'constraint',
    'table',
    'column',
    'schema',
  ]) {
    if (fields[key] !== undefined) out[key] = fields[key];
  }
  return out;
}

const reply = (message: Reply) => parentPort.postMessage(message);

let queue = Promise.resolve();
parentPort.on('message', (message: Request) => {
  queue = queue.then(async () => {
    try {
      reply({ id: message.id, rows: await handle(message) });
    } catch (error) {
      reply({ id: message.id, error: errorOf(error) });
    }
  });
});
reply({ ready: true });
