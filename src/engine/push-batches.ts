// One claim's assignments cut into pushes that each fit the worker's body limit, serialized once.
import { DEFAULT_WORKER_MAX_BODY_BYTES } from '../protocol/journal.ts';
import { type Assignment, PROTOCOL_VERSION } from '../protocol/schemas.ts';
import type { WorkerRecord } from './store/records.ts';

const CLOSING = ']}';

/** What goes before the assignments: the version, and how long the worker may hold events for the answer. */
function openingOf(answerWithinMs: number): string {
  const within = answerWithinMs > 0 ? `"answerWithinMs":${answerWithinMs},` : '';
  return `{"v":${PROTOCOL_VERSION},${within}"assignments":[`;
}

/** The largest push body a worker reads: what it announced, or a worker's default when it announced none. */
export function pushLimitOf(worker: Pick<WorkerRecord, 'maxBodyBytes'>): number {
  return worker.maxBodyBytes ?? DEFAULT_WORKER_MAX_BODY_BYTES;
}

export interface PushCut {
  /** Each push: the indexes of its assignments, in claim order, and its body. */
  pushes: { indexes: number[]; body: string }[];
  /** Assignments that do not fit a push on their own, with the bytes their push would be. */
  oversized: { index: number; bytes: number }[];
}

/**
 * Cuts the assignments into as few pushes as fit `limit` bytes each (see `pushLimitOf`), keeping their order; one
 * that cannot fit even alone is set apart. `answerWithinMs` (0 for none) is offered in each push.
 */
export function cutPushes(assignments: Assignment[], limit: number, answerWithinMs = 0): PushCut {
  const opening = openingOf(answerWithinMs);
  const envelopeBytes = Buffer.byteLength(opening) + Buffer.byteLength(CLOSING);
  const cut: PushCut = { pushes: [], oversized: [] };
  let indexes: number[] = [];
  let pieces: string[] = [];
  let bytes = envelopeBytes;
  const close = () => {
    if (pieces.length > 0) cut.pushes.push({ indexes, body: `${opening}${pieces.join(',')}${CLOSING}` });
    indexes = [];
    pieces = [];
    bytes = envelopeBytes;
  };
  assignments.forEach((assignment, index) => {
    const piece = JSON.stringify(assignment);
    const size = Buffer.byteLength(piece);
    if (envelopeBytes + size > limit) {
      cut.oversized.push({ index, bytes: envelopeBytes + size });
      return;
    }
    if (pieces.length > 0 && bytes + 1 + size > limit) close();
    bytes += (pieces.length > 0 ? 1 : 0) + size;
    indexes.push(index);
    pieces.push(piece);
  });
  close();
  return cut;
}
