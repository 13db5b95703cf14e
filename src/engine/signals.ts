// In-process signals (wake-ups, finished runs, worker and token changes), relayed over NOTIFY across replicas.
import type { Sql } from './store/sql.ts';

const CHANNELS = {
  wake: 'pushworker_wake',
  freed: 'pushworker_freed',
  done: 'pushworker_done',
  workers: 'pushworker_workers',
  tokens: 'pushworker_tokens',
} as const;
type Channel = keyof typeof CHANNELS;
/** NOTIFY payloads must stay under 8000 bytes. */
const MAX_PAYLOAD = 7_000;
/**
 * Signals are relayed at most this often. Under load one NOTIFY statement then carries several batches'
 * signals, where it used to be one statement (and one commit on Postgres) per batch; the other replicas hear
 * of them this much later at most, well within their poll interval.
 */
const RELAY_MS = 10;

export class Signals {
  private readonly listeners: { [C in Channel]: Set<(items: string[]) => void> } = {
    wake: new Set(),
    freed: new Set(),
    done: new Set(),
    workers: new Set(),
    tokens: new Set(),
  };
  private waiters = new Map<string, Set<() => void>>();
  private finishedHere = new Set<(runIds: string[]) => void>();
  private unlisten: (() => Promise<void>)[] = [];
  /** Relays over NOTIFY only where replicas may share the database. */
  private relay = false;
  /** Outgoing items per channel, sent together within `RELAY_MS`. */
  private outbox = new Map<Channel, Set<string>>();
  private flushing: Promise<void> | undefined;
  /** Tags this replica's notifications, which it has already acted on. */
  private readonly origin = crypto.randomUUID().slice(0, 8);

  constructor(private readonly sql: Sql) {
    this.listeners.done.add((ids) => this.doneLocal(ids));
  }

  async start(): Promise<void> {
    if (this.sql.kind !== 'postgres' || !this.sql.listen) return;
    this.relay = true;
    for (const [channel, name] of Object.entries(CHANNELS) as [Channel, string][]) {
      const off = await this.sql.listen(name, (payload) => {
        const [origin, ...rest] = payload.split(',');
        if (origin !== this.origin) this.emitLocal(channel, rest.filter(Boolean));
      });
      this.unlisten.push(off);
    }
  }

  async stop(): Promise<void> {
    await this.flushing;
    for (const fn of this.unlisten.splice(0)) await fn();
    this.relay = false;
  }

  /** New work to dispatch: enqueued or re-queued runs. */
  onWake(fn: () => void): () => void {
    return this.on('wake', fn);
  }

  /** Wakes this replica's dispatcher, and the others'. */
  wake(): void {
    this.emit('wake', []);
  }

  /** Slots came free on these workers. */
  onFreed(fn: (workerIds: string[]) => void): () => void {
    return this.on('freed', fn);
  }

  freed(workerIds: Iterable<string>): void {
    const ids = [...workerIds];
    if (ids.length > 0) this.emit('freed', ids);
  }

  /** A worker registered, changed state, was paused or resumed, or went INACTIVE. */
  onWorkersChanged(fn: () => void): () => void {
    return this.on('workers', fn);
  }

  workersChanged(): void {
    this.emit('workers', []);
  }

  onTokenRevoked(fn: (tokenIds: string[]) => void): () => void {
    return this.on('tokens', fn);
  }

  tokenRevoked(tokenId: string): void {
    this.emit('tokens', [tokenId]);
  }

  /** Runs ended: their waiters wake, here and on the other replicas. */
  done(runIds: string[]): void {
    if (runIds.length === 0) return;
    this.emit('done', runIds);
    for (const fn of this.finishedHere) fn(runIds);
  }

  /** Runs ended by this replica (not those relayed from others, which act on their own). */
  onFinishedHere(fn: (runIds: string[]) => void): () => void {
    this.finishedHere.add(fn);
    return () => this.finishedHere.delete(fn);
  }

  /** Resolves when `runId` is reported finished or `ms` pass; the caller re-reads the store either way. */
  waitDone(runId: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(runId);
      if (!set) {
        set = new Set();
        this.waiters.set(runId, set);
      }
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        set.delete(finish);
        if (set.size === 0) this.waiters.delete(runId);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      signal?.addEventListener('abort', finish);
      set.add(finish);
    });
  }

  private on(channel: Channel, fn: (items: string[]) => void): () => void {
    this.listeners[channel].add(fn);
    return () => this.listeners[channel].delete(fn);
  }

  private emit(channel: Channel, items: string[]): void {
    this.emitLocal(channel, items);
    if (!this.relay) return;
    let box = this.outbox.get(channel);
    if (!box) {
      box = new Set();
      this.outbox.set(channel, box);
    }
    for (const item of items) box.add(item);
    this.flushing ??= new Promise<void>((resolve) => setTimeout(resolve, RELAY_MS)).then(() => this.flush());
  }

  private emitLocal(channel: Channel, items: string[]): void {
    for (const fn of this.listeners[channel]) fn(items);
  }

  private doneLocal(runIds: string[]): void {
    for (const id of runIds) for (const fn of [...(this.waiters.get(id) ?? [])]) fn();
  }

  /** Sends what accumulated since the last flush, in one statement: a NOTIFY per channel (more when long). */
  private async flush(): Promise<void> {
    const boxes = [...this.outbox];
    this.outbox.clear();
    this.flushing = undefined;
    const channels: string[] = [];
    const payloads: string[] = [];
    for (const [channel, items] of boxes) {
      let payload = this.origin;
      for (const item of items) {
        if (payload.length + item.length + 1 > MAX_PAYLOAD) {
          channels.push(CHANNELS[channel]);
          payloads.push(payload);
          payload = this.origin;
        }
        payload += `,${item}`;
      }
      channels.push(CHANNELS[channel]);
      payloads.push(payload);
    }
    await this.sql
      .query('SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)', [channels, payloads])
      .catch(() => {});
  }
}
