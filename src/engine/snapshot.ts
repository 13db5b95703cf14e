// The dispatcher's cached view of dispatchable workers and their usage, reloaded when workers change.
import type { WorkerRecord } from './store/records.ts';
import type { SqlClient } from './store/sql.ts';
import { listDispatchable } from './store/workers.ts';

/**
 * Rounds read workers from here instead of the store. It is reloaded when a worker registers, changes state,
 * is paused or resumed, or goes INACTIVE (signals, also from other replicas), and at least every `maxAgeMs`.
 * Between reloads each claim reports the store's usage of its worker, and freed slots mark a worker as
 * possibly free, so that its next claim reads the truth.
 */
export class WorkerSnapshot {
  private workers: WorkerRecord[] | undefined;
  private loadedAt = 0;
  private readonly maybeFree = new Set<string>();
  /** Bumped per worker whenever slots are freed, so a claim that read usage before cannot hide the change. */
  private readonly epochs = new Map<string, number>();

  constructor(
    private readonly sql: SqlClient,
    private readonly maxAgeMs: number,
  ) {}

  invalidate(): void {
    this.workers = undefined;
  }

  async current(now = Date.now()): Promise<WorkerRecord[]> {
    if (!this.workers || now - this.loadedAt > this.maxAgeMs) {
      this.loadedAt = now;
      this.maybeFree.clear();
      this.workers = await listDispatchable(this.sql);
    }
    return this.workers;
  }

  hasRoom(worker: WorkerRecord): boolean {
    return worker.used < worker.slots || this.maybeFree.has(worker.id);
  }

  /** Slots were freed on these workers (here or on another replica). */
  freed(workerIds: Iterable<string>): void {
    for (const id of workerIds) {
      this.maybeFree.add(id);
      this.epochs.set(id, (this.epochs.get(id) ?? 0) + 1);
    }
  }

  epoch(workerId: string): number {
    return this.epochs.get(workerId) ?? 0;
  }

  /** Records a claim's view of the worker's usage, read when its epoch was `epoch`. */
  settle(worker: WorkerRecord, used: number, slots: number, epoch: number): void {
    worker.used = used;
    worker.slots = slots;
    if (this.epoch(worker.id) === epoch) this.maybeFree.delete(worker.id);
  }
}
