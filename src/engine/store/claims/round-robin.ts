// GROUP_ROUND_ROBIN: queued runs of different concurrency keys taken in turn, not in queue order.
import type { Row } from '../sql.ts';

/**
 * Orders the rows of a round-robin page in turns: each turn takes the next row of every key, the keys served
 * least recently first (one never served before all), then by their head's place in the queue. So one key's deep
 * queue cannot keep another's runs waiting behind it, within a claim or across claims.
 */
export function takeInTurns(rows: readonly Row[]): Row[] {
  const byKey = new Map<string, Row[]>();
  for (const row of rows) {
    const key = row.concurrency_key as string;
    const list = byKey.get(key);
    if (list) list.push(row);
    else byKey.set(key, [row]);
  }
  const queues = [...byKey.values()].sort((a, b) => compareKeys(a[0]!, b[0]!));
  const turns: Row[] = [];
  for (let turn = 0; turns.length < rows.length; turn++) {
    for (const queue of queues) if (queue[turn]) turns.push(queue[turn]!);
  }
  return turns;
}

function compareKeys(a: Row, b: Row): number {
  const servedA = a.served_at as number | null;
  const servedB = b.served_at as number | null;
  if (servedA !== servedB) {
    if (servedA === null) return -1;
    if (servedB === null) return 1;
    return servedA - servedB;
  }
  return inQueueOrder(a, b);
}

/** Queue order: higher priority first, then first enqueued. */
export function inQueueOrder(a: Row, b: Row): number {
  return (b.priority as number) - (a.priority as number) || Number(a.seq) - Number(b.seq);
}

/**
 * Merges the rows in turns into a page in queue order: at each step the row that comes first in queue order of
 * the two next ones, so that round-robin runs keep their priority among the others.
 */
export function mergeTurns(page: readonly Row[], turns: readonly Row[]): Row[] {
  const merged: Row[] = [];
  let i = 0;
  let j = 0;
  while (i < page.length || j < turns.length) {
    const takePage = j >= turns.length || (i < page.length && inQueueOrder(page[i]!, turns[j]!) <= 0);
    merged.push(takePage ? page[i++]! : turns[j++]!);
  }
  return merged;
}
