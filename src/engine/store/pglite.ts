// The embedded store driver: PGlite in a data directory, or in memory.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { PushworkerError } from '../../protocol/errors.ts';
import { isFatalStoreError, storeFailed } from './pglite-fatal.ts';
import type { Reply, Request, ThreadData } from './pglite-messages.ts';
import { makePrivate } from './private-files.ts';
import type { Row, Sql, SqlClient } from './sql.ts';

/**
 * Postgres settings for a small embedded queue. PGlite's defaults (128 MB of shared buffers) cost the engine
 * process that much resident memory; the queue's hot pages (index heads, recent rows) fit in far less, and
 * the rest stays in the operating system's file cache.
 */
const SETTINGS = [
  'shared_buffers = 8MB',
  'wal_buffers = 1MB',
  'temp_buffers = 4MB',
  'maintenance_work_mem = 16MB',
];

/**
 * V8 settings for a long-running engine process on the embedded store, applied before the store opens. They
 * are process-wide, so the engine command applies them and the library leaves the choice to a process that
 * embeds it.
 * - PGlite's WebAssembly is compiled by the optimising compiler alone. By default V8 also compiles every
 *   function it runs with its baseline compiler and keeps that code beside the optimised code of hot
 *   functions: about 80 MB more for PGlite's module. The optimised code runs as fast; the start takes about
 *   a second more.
 * - The heap favours size: it grows less far ahead of what is live and gives memory back sooner, about 70 MB
 *   less after a burst of bulk enqueues, for about 5% more CPU a run.
 */
export function tuneForEmbeddedStore(): void {
  setFlagsFromString('--no-liftoff');
  setFlagsFromString('--optimize-for-size');
}

/**
 * Opens PGlite at `dataDir` (a directory path), or in memory when it is omitted, in a thread of its own.
 * `settings` (`name = value` lines) come after the store's own and so override them: a measurement's, say.
 */
export async function openPglite(dataDir?: string, settings: string[] = []): Promise<Sql> {
  const entry = pgliteEntry();
  if (dataDir) {
    await initializeApart(dataDir, entry);
    // Also for a directory that an earlier version left readable; the thread creates new files private.
    makePrivate(dataDir);
  }
  return PgliteThread.open(dataDir, { postgresqlconf: [...SETTINGS, ...settings].join('\n') });
}

/**
 * Creates a new data directory in a short-lived child process. Initialising a cluster (initdb) takes hundreds of
 * megabytes that PGlite never gives back to the operating system; in a child they are gone when it exits.
 */
async function initializeApart(dataDir: string, module: string): Promise<void> {
  if (existsSync(join(dataDir, 'PG_VERSION'))) return;
  // The store holds private signing keys and tokens' hashes: only the engine's user may open it.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const script = `const { PGlite } = await import(${JSON.stringify(module)});
    const db = await PGlite.create(${JSON.stringify(dataDir)}); await db.close();`;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`initialising ${dataDir} failed: ${stderr.trim()}`)),
    );
  });
}

/** PGlite's entry, resolved here so that a missing install is one clear error rather than a dead thread. */
function pgliteEntry(): string {
  try {
    return import.meta.resolve('@electric-sql/pglite');
  } catch {
    throw new PushworkerError(
      'missing_dependency',
      'the embedded store needs @electric-sql/pglite: npm install @electric-sql/pglite',
    );
  }
}

/**
 * The thread's module: compiled JavaScript beside this file in the package. Run from the TypeScript sources
 * (this repository's tests), the thread loads its source through tsx, as the process that imported this did.
 */
function threadEntry(): { entry: URL | string; eval: boolean } {
  if (!import.meta.url.endsWith('.ts'))
    return { entry: new URL('./pglite-thread.js', import.meta.url), eval: false };
  const source = JSON.stringify(new URL('./pglite-thread.ts', import.meta.url).href);
  const bootstrap = `import('tsx/esm/api').then(({ tsImport }) => tsImport(${source}, ${source}))`;
  return { entry: bootstrap, eval: true };
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * The engine's side of the database thread. PGlite runs statements synchronously in WebAssembly; on the
 * engine's own thread that time is taken from HTTP, signing and everything else, and under load each waits
 * for the other. A transaction holds the thread for itself: other statements wait until it ends.
 */
class PgliteThread implements Sql {
  readonly kind = 'pglite';
  /** One thread, one connection; a transaction holds the thread to itself until it ends. */
  readonly serial = true;
  private nextId = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (rows: Row[]) => void; reject: (e: Error) => void }
  >();
  private readonly listeners = new Map<string, Set<(payload: string) => void>>();
  private inTransaction: Promise<void> | undefined;
  private failure: Error | undefined;
  private closing = false;
  private readonly fatalListeners: ((error: PushworkerError) => void)[] = [];

  private constructor(private readonly thread: Worker) {
    thread.on('message', (m: Reply) => {
      if ('ready' in m) return;
      if ('channel' in m) {
        for (const fn of this.listeners.get(m.channel) ?? []) fn(m.payload);
        return;
      }
      const call = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) thread.unref();
      if (!('error' in m)) call?.resolve(m.rows);
      else if (isFatalStoreError(m.error)) {
        const error = storeFailed(m.error);
        call?.reject(error);
        this.die(error);
      } else call?.reject(Object.assign(new Error(m.error.message), m.error));
    });
    thread.on('error', (error) => this.die(storeFailed(error)));
    thread.on('exit', (code) => {
      if (this.closing) this.fail(new Error('the store is closed'));
      else this.die(storeFailed({ message: `its thread exited with code ${code}` }));
    });
  }

  onFatal(fn: (error: PushworkerError) => void): void {
    this.fatalListeners.push(fn);
  }

  /** A failure the store cannot recover from: every later call fails with it, and the listeners hear of it once. */
  private die(error: PushworkerError): void {
    if (this.failure || this.closing) return;
    this.fail(error);
    void this.thread.terminate();
    for (const fn of this.fatalListeners) fn(error);
  }

  static async open(dataDir: string | undefined, options: ThreadData['options']): Promise<PgliteThread> {
    const { entry, eval: isScript } = threadEntry();
    const thread = new Worker(entry, {
      eval: isScript,
      workerData: { dataDir, options } satisfies ThreadData,
      execArgv: [],
      // The thread's objects are short-lived result rows; a small young generation keeps its heap small.
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    const exited = (code: number) => new Error(`the database thread exited with ${code}`);
    await new Promise<void>((resolve, reject) => {
      const ready = () => {
        thread.off('error', reject).off('exit', exit);
        resolve();
      };
      const exit = (code: number) => reject(exited(code));
      thread.once('message', ready).once('error', reject).once('exit', exit);
    });
    thread.unref();
    return new PgliteThread(thread);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const call of this.waiting.values()) call.reject(error);
    this.waiting.clear();
  }

  /** Sends now: whatever is already queued in the thread runs first, in order. */
  private send(message: DistributiveOmit<Request, 'id'>): Promise<Row[]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) this.thread.ref();
      this.waiting.set(id, { resolve, reject });
      this.thread.postMessage({ ...message, id } satisfies Request);
    });
  }

  /** Sends once no transaction is open; the check and the send happen in one turn, so none can slip between. */
  private async sendOutside(message: DistributiveOmit<Request, 'id'>): Promise<Row[]> {
    while (this.inTransaction) await this.inTransaction;
    return this.send(message);
  }

  async query<T extends Row>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.sendOutside({ kind: 'query', text, params })) as T[];
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    while (this.inTransaction) await this.inTransaction;
    let end!: () => void;
    this.inTransaction = new Promise((resolve) => {
      end = resolve;
    });
    // BEGIN travels with the first statement: one trip to the thread fewer.
    let begun = false;
    try {
      const result = await fn({
        query: async <R extends Row>(text: string, params: unknown[] = []) => {
          const begin = !begun;
          begun = true;
          return (await this.send({ kind: 'query', text, params, begin })) as R[];
        },
      });
      if (begun) await this.send({ kind: 'exec', text: 'COMMIT' });
      return result;
    } catch (error) {
      if (begun) await this.send({ kind: 'exec', text: 'ROLLBACK' }).catch(() => {});
      throw error;
    } finally {
      this.inTransaction = undefined;
      end();
    }
  }

  async exec(text: string): Promise<void> {
    await this.sendOutside({ kind: 'exec', text });
  }

  async listen(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>> {
    let fns = this.listeners.get(channel);
    if (!fns) {
      fns = new Set();
      this.listeners.set(channel, fns);
      await this.sendOutside({ kind: 'listen', channel });
    }
    fns.add(fn);
    return async () => {
      fns.delete(fn);
      if (fns.size > 0 || this.listeners.get(channel) !== fns) return;
      this.listeners.delete(channel);
      await this.sendOutside({ kind: 'unlisten', channel }).catch(() => {});
    };
  }

  async close(): Promise<void> {
    if (this.failure || this.closing) return;
    this.closing = true;
    await this.sendOutside({ kind: 'close' }).catch(() => {});
    this.fail(new Error('the store is closed'));
    await this.thread.terminate();
  }
}
