// The embedded database's own thread: PGlite runs here, so its WebAssembly work never blocks the engine's
// event loop. Plain JavaScript, because a worker thread does not go through the TypeScript loader that runs
// the rest of the engine. The messages are those of `pglite.ts`, which serialises them: one at a time here.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, parse, protocol } from '@electric-sql/pglite';

const MAX_PREPARED = 256;

const db = workerData.dataDir
  ? await PGlite.create(workerData.dataDir, workerData.options)
  : await PGlite.create(workerData.options);

/**
 * Statements are prepared once and then only bound and executed. PGlite's `query` parses and plans on every
 * call, in six trips into WebAssembly; the queue's statements cost several times more to plan than to run.
 * Values are serialised and rows parsed by PGlite's own serializers and parsers, as its `query` does.
 */
const statements = new Map();

async function query(text, params) {
  if (statements.size >= MAX_PREPARED && !statements.has(text)) {
    return (await db.query(text, params)).rows; // a statement text built per call: not worth keeping
  }
  let statement = statements.get(text);
  if (!statement) {
    const name = `pw_${statements.size + 1}`;
    const messages = await db.execProtocolStream(
      concat([
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
    const serialize = db.serializers[statement.types[i]];
    return serialize ? serialize(value) : String(value);
  });
  const messages = await db.execProtocolStream(
    concat([
      protocol.serialize.bind({ statement: statement.name, values }),
      protocol.serialize.describe({ type: 'P' }),
      protocol.serialize.execute({}),
      protocol.serialize.sync(),
    ]),
    { syncToFs: false },
  );
  await db.syncToFs();
  return parse.parseResults(messages, db.parsers)[0]?.rows ?? [];
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const unlisten = new Map();

async function handle(message) {
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
          parentPort.postMessage({ channel: message.channel, payload }),
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
  throw new Error(`unknown message ${message.kind}`);
}

/** Database errors keep their SQLSTATE and fields across the thread boundary. */
function errorOf(error) {
  const out = { message: error?.message ?? String(error) };
  for (const key of ['code', 'detail', 'hint', 'severity', 'constraint', 'table', 'column', 'schema']) {
    if (error?.[key] !== undefined) out[key] = error[key];
  }
  return out;
}

let queue = Promise.resolve();
parentPort.on('message', (message) => {
  queue = queue.then(async () => {
    try {
      parentPort.postMessage({ id: message.id, rows: await handle(message) });
    } catch (error) {
      parentPort.postMessage({ id: message.id, error: errorOf(error) });
    }
  });
});
parentPort.postMessage({ ready: true });
