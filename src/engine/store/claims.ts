// Claiming queued runs for one worker: row locks with SKIP LOCKED, so replicas never assign a run twice.
// The head claim (claims/head.ts) takes the head of the queue in one statement; the scan claim (claims/scan.ts)
// takes, in a transaction, what needs a choice only the engine can make.
import type { Labels, StickyMode } from '../../protocol/schemas.ts';
import { claimHead } from './claims/head.ts';
import { claimScan } from './claims/scan.ts';
import type { PreferredLabels, RunRecord } from './records.ts';
import type { Sql } from './sql.ts';

export interface Candidate {
  id: string;
  task: string;
  cost: number;
  requiredLabels: Labels | null;
  preferredLabels: PreferredLabels[] | null;
  stickyKey: string | null;
  stickyMode: StickyMode | null;
  /** The worker this run's sticky key is bound to, when it is another live worker. */
  stickyWorkerId: string | null;
}

export interface ClaimOptions {
  workerId: string;
  /** Most runs to claim in this batch. */
  max: number;
  now: number;
  leaseMs: number;
  /** Queued rows read per page beyond `max`; further pages are read while room is left. */
  scan?: number;
  /** False leaves the run for a better-suited worker (soft stickiness, preferred labels). */
  accept?: (candidate: Candidate) => boolean;
}

export interface ClaimResult {
  runs: RunRecord[];
  /** Slot-units the worker holds after this claim (the store's count, for the dispatcher's snapshot). */
  used: number;
  slots: number;
  /** False when the worker is not ACTIVE or is paused: it should leave the dispatcher's snapshot. */
  dispatchable: boolean;
}

/**
 * Claims up to `max` queued runs for the worker: the head claim first, then the scan claim in a transaction
 * for the rest, unless the head claim took all it could.
 */
export async function claimRuns(sql: Sql, options: ClaimOptions): Promise<ClaimResult> {
  const head = await claimHead(sql, options);
  if (head?.complete) return head.result;
  const rest = await sql.transaction((tx) =>
    claimScan(tx, sql.serial, head ? { ...options, max: options.max - head.result.runs.length } : options),
  );
  return head ? { ...rest, runs: [...head.result.runs, ...rest.runs] } : rest;
}
