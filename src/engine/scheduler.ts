// Placement choices the store cannot make alone: spreading across workers, soft stickiness, preferred labels.
import type { Labels } from '../protocol/schemas.ts';
import type { Candidate } from './store/claims.ts';
import type { WorkerRecord } from './store/records.ts';

export function matchesLabels(required: Labels | null | undefined, labels: Labels): boolean {
  if (!required) return true;
  return Object.entries(required).every(([k, v]) => labels[k] === v);
}

export function preferenceScore(candidate: Candidate, worker: WorkerRecord): number {
  let score = 0;
  for (const p of candidate.preferredLabels ?? [])
    if (matchesLabels(p.labels, worker.labels)) score += p.weight;
  return score;
}

const freeOf = (w: WorkerRecord) => w.slots - w.used;
const servesTask = (w: WorkerRecord, task: string) => w.tasks.some((t) => t.name === task);

/** Workers in the order a dispatch round offers them work: least loaded first, ties shuffled. */
export function orderForRound(workers: WorkerRecord[]): WorkerRecord[] {
  return workers
    .map((w) => ({ w, load: w.used / w.slots, tie: Math.random() }))
    .sort((a, b) => a.load - b.load || a.tie - b.tie)
    .map((x) => x.w);
}

/**
 * Whether `worker` should take `candidate` now, given the other dispatchable workers: a soft-sticky run waits
 * for its bound worker while that worker has room, and a run with preferred labels goes to the best-scoring
 * worker that has room.
 */
export function shouldTake(candidate: Candidate, worker: WorkerRecord, workers: WorkerRecord[]): boolean {
  const others = workers.filter(
    (w) =>
      w.id !== worker.id &&
      freeOf(w) >= candidate.cost &&
      servesTask(w, candidate.task) &&
      matchesLabels(candidate.requiredLabels, w.labels),
  );
  if (candidate.stickyWorkerId && others.some((w) => w.id === candidate.stickyWorkerId)) return false;
  if (!candidate.preferredLabels?.length) return true;
  const mine = preferenceScore(candidate, worker);
  return !others.some((w) => preferenceScore(candidate, w) > mine);
}
