// One claim's assignments cut into pushes that each fit the worker's body limit, serialized once.
import { DEFAULT_WORKER_MAX_BODY_BYTES } from '../protocol/journal.ts';
import { type Assignment, PROTOCOL_VERSION } from '../protocol/schemas.ts';
import type { WorkerRecord } from './store/records.ts';

const OPENING = `{"v":${PROTOCOL_VERSION},"assignments":[`;
const CLOSING = ']}';
const ENVELOPE_BYTES = Buffer.byteLength(OPENING) + Buffer.byteLength(CLOSING);

/** The largest push body a worker reads: what it announced, or a worker's default when it announced none. */
export function pushLimitOf(worker: Pick<WorkerRecord, 'maxBodyBytes'>): number {
  return worker.maxBodyBytes ?? DEFAULT_WORKER_MAX_BODY_BYTES;
}

/** The body of one assignment push, from its assignments already serialized. */
export function assignmentsBody(pieces: string[]): string {
  return `${OPENING}${pieces.join(',')}${CLOSING}`;
}

export interface PushCut {
  /** Each push: the indexes of its assignments, in claim order, and its body. */
  pushes: { indexes: number[]; body: string }[];
  /** Assignments that do not fit a push on their own, with the bytes their push would be. */
  oversized: { index: number; bytes: number }[];
}

/**
 * Cuts the assignments into as few pushes as fit `limit` bytes each (see `pushLimitOf`), keeping their order; one
 * that cannot fit even alone is set apart.
 */
export function cutPushes(assignments: Assignment[], limit: number): PushCut {
  const cut: PushCut = { pushes: [], oversized: [] };
  let indexes: number[] = [];
  let pieces: string[] = [];
  let bytes = ENVELOPE_BYTES;
  const close = () => {
    if (pieces.length > 0) cut.pushes.push({ indexes, body: assignmentsBody(pieces) });
    indexes = [];
    pieces = [];
    bytes = ENVELOPE_BYTES;
  };
  assignments.forEach((assignment, index) => {
    const piece = JSON.stringify(assignment);
    const size = Buffer.byteLength(piece);
    if (ENVELOPE_BYTES + size > limit) {
      cut.oversized.push({ index, bytes: ENVELOPE_BYTES + size });
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
