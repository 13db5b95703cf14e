// In-process wake-ups (dispatcher) and run-finished notices (long-poll waiters), relayed over NOTIFY across replicas.
import type { Sql } from './store/sql.ts';

const WAKE = 'pushworker_wake';
const DONE = 'pushworker_done';

export class Signals {
  private wakeListeners = new Set<() => void>();
  private waiters = new Map<string, Set<() => void>>();
  private unlisten: (() => Promise<void>)[] = [];
  /** Relays over NOTIFY only where replicas may share the database. */
  private relay = false;

  constructor(private readonly sql: Sql) {}

  async start(): Promise<void> {
    if (this.sql.kind !== 'postgres' || !this.sql.listen) return;
    this.relay = true;
    this.unlisten.push(await this.sql.listen(WAKE, () => this.wakeLocal()));
    this.unlisten.push(await this.sql.listen(DONE, (payload) => this.doneLocal(payload.split(','))));
  }

  async stop(): Promise<void> {
    for (const fn of this.unlisten.splice(0)) await fn();
    this.relay = false;
  }

  onWake(fn: () => void): () => void {
    this.wakeListeners.add(fn);
    return () => this.wakeListeners.delete(fn);
  }

  /** New work or free slots: wakes this replica's dispatcher, and the others'. */
  wake(): void {
    this.wakeLocal();
    if (this.relay) this.notify(WAKE, '');
  }

  done(runIds: string[]): void {
    if (runIds.length === 0) return;
    this.doneLocal(runIds);
    if (this.relay) this.notify(DONE, runIds.join(','));
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

  private wakeLocal(): void {
    for (const fn of this.wakeListeners) fn();
  }

  private doneLocal(runIds: string[]): void {
    for (const id of runIds) for (const fn of [...(this.waiters.get(id) ?? [])]) fn();
  }

  private notify(channel: string, payload: string): void {
    this.sql.query('SELECT pg_notify($1, $2)', [channel, payload]).catch(() => {});
  }
}
