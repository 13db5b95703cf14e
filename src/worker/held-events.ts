// One run's events held back while the answer to its push may still carry them (the push's `answerWithinMs`).
import { MAX_EVENTS_PER_POST, type RunEvent } from '../protocol/schemas.ts';
import type { EventReporter, ReportOutcome } from './reporter.ts';

interface Held {
  url: string | undefined;
  event: RunEvent;
  resolve: (outcome: ReportOutcome) => void;
}

export class HeldEvents {
  /** Undefined once the answer has decided: from then on every event is posted. */
  private held: Held[] | undefined = [];

  constructor(private readonly reporter: EventReporter) {}

  /** As the reporter's `report`: held while the answer is undecided, posted after. */
  report(url: string | undefined, event: RunEvent): Promise<ReportOutcome> {
    const held = this.held;
    if (!held) return this.reporter.report(url, event);
    return new Promise((resolve) => held.push({ url, event, resolve }));
  }

  get count(): number {
    return this.held?.length ?? 0;
  }

  /** The answer carries the held events; they count as applied, as the engine answers a repeat. */
  take(): RunEvent[] {
    const held = this.held ?? [];
    this.held = undefined;
    for (const h of held) h.resolve('ok');
    return held.map((h) => h.event);
  }

  /** The answer goes without them: the held events are posted, in the order raised, and so are later ones. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const h of held) void this.reporter.report(h.url, h.event).then(h.resolve);
  }
}

/**
 * Waits up to `withinMs` for the runs to end, then takes the events of those that ended, in their order, for the
 * answer (at most `MAX_EVENTS_PER_POST`), and lets the others' go: a run still running reports through posts.
 */
export async function eventsForAnswer(
  runs: { result: Promise<unknown>; held?: HeldEvents | undefined }[],
  withinMs: number,
): Promise<RunEvent[]> {
  const ended = new Set<number>();
  const all = Promise.allSettled(runs.map((r, i) => r.result.finally(() => ended.add(i))));
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, withinMs)))]);
  clearTimeout(timer);
  const events: RunEvent[] = [];
  runs.forEach(({ held }, i) => {
    if (!held) return;
    if (ended.has(i) && events.length + held.count <= MAX_EVENTS_PER_POST) events.push(...held.take());
    else held.release();
  });
  return events;
}
