// The soak's checks of time and flow control: cron ticks fired once each and none lost beyond the missed-tick
// policy, and no rate limit window over its limit. Fed from the store after the run (audit.ts reads it).
import { CronTicks } from '../src/protocol/cron.ts';

export interface ScheduleAudit {
  name: string;
  cron: string;
  timezone: string;
  missed: 'latest' | 'backfill';
  /** When it was created (ms): its first tick is the first after this. */
  createdAt: number;
}

/** A run a schedule's tick enqueued, from its metadata (`pushworker.schedule`, `pushworker.tick`). */
export interface TickRun {
  runId: string;
  schedule: string;
  /** The tick (ms). */
  tick: number;
  idempotencyKey: string | null;
  /** When the engine enqueued it: the `now` of the cron round that fired it. */
  createdAt: number;
}

/**
 * A time no engine fired ticks: `from` when the soak signalled the engine to stop (SIGTERM or SIGKILL), `to` when
 * the engine started again had started its cron loop (its first round follows at once). A graceful stop may fire a
 * few more ticks after `from`; those count as any others.
 */
export interface Downtime {
  from: number;
  to: number;
}

export interface RateLimitAudit {
  key: string;
  limit: number;
  perMs: number;
}

/** One attempt of a rate-limited run: when it was assigned, which is when its units were taken. */
export interface Assignment {
  runId: string;
  attempt: number;
  assignedAt: number;
  uses: { key: string; units: number }[];
}

export interface FlowAudit {
  schedules: ScheduleAudit[];
  ticks: TickRun[];
  downtimes: Downtime[];
  /** A tick the soak saw fired before it paused the schedule: every tick up to it is expected. */
  through?: number;
  rateLimits: RateLimitAudit[];
  assignments: Assignment[];
}

export const FLOW_VIOLATIONS = ['tick_duplicates', 'ticks_lost', 'tick_policy', 'rate_overuse'] as const;
export type FlowViolation = (typeof FLOW_VIOLATIONS)[number];

export interface WindowPeak {
  key: string;
  /** The most units started in one window of the key, and that window's start (ms). */
  max: number;
  windowStart: number;
  limit: number;
  perMs: number;
}

export interface FlowCounts {
  ticksFired: number;
  /** Ticks not fired that the missed-tick policy allows: older ticks missed while the engine was down. */
  ticksSkipped: number;
  /** The longest time from a tick to its run's enqueue, outside downtimes (ms). */
  maxTickLagMs: number;
  rateLimitedRuns: number;
  /** Attempts of rate-limited runs, each of which took units. */
  rateLimitedStarts: number;
  windows: WindowPeak[];
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The idempotency key the README documents for a tick's run: `schedule:<name>:<ISO tick>`. */
export function documentedTickKey(schedule: string, tick: number): string {
  return `schedule:${schedule}:${iso(tick)}`;
}

/**
 * Whether the missed-tick policy `latest` lets tick `t` go unfired: it came due while no engine could fire it and a
 * later one did the same. That is, its successor came due after the stop began (so `t` was at most the latest tick
 * due when the engine went down, perhaps waiting for a round the stop cut short) and `t` itself came due before the
 * restarted engine's cron loop began. A later tick, one due after the restart, must fire.
 */
function missedInDowntime(t: number, next: number | null, downtimes: readonly Downtime[]): boolean {
  return downtimes.some((d) => t <= d.to && (next === null || next >= d.from));
}

/** The ticks and their runs, by schedule. */
function judgeTicks(flow: FlowAudit, v: Record<FlowViolation, string[]>, counts: FlowCounts): void {
  const bySchedule = new Map<string, TickRun[]>();
  for (const t of flow.ticks) bySchedule.set(t.schedule, [...(bySchedule.get(t.schedule) ?? []), t]);
  for (const name of bySchedule.keys()) {
    if (!flow.schedules.some((s) => s.name === name))
      v.tick_policy.push(`${bySchedule.get(name)!.length} runs name the unknown schedule ${name}`);
  }
  for (const s of flow.schedules) {
    const cron = new CronTicks(s.cron, s.timezone);
    const runs = bySchedule.get(s.name) ?? [];
    const byTick = new Map<number, TickRun[]>();
    for (const r of runs) byTick.set(r.tick, [...(byTick.get(r.tick) ?? []), r]);

    const first = cron.after(s.createdAt);
    for (const [tick, list] of byTick) {
      if (list.length > 1)
        v.tick_duplicates.push(
          `${s.name} ${iso(tick)} enqueued ${list.length} runs (${list.map((r) => r.runId).join(', ')})`,
        );
    }
    for (const r of runs) {
      const at = `${s.name} ${iso(r.tick)} (${r.runId})`;
      const next = cron.after(r.tick);
      if (r.idempotencyKey !== documentedTickKey(s.name, r.tick))
        v.tick_policy.push(`${at}: idempotency key ${r.idempotencyKey}`);
      if (cron.after(r.tick - 1) !== r.tick) v.tick_policy.push(`${at}: not a tick of "${s.cron}"`);
      else if (first === null || r.tick < first)
        v.tick_policy.push(`${at}: before the schedule's first tick`);
      else if (r.tick > r.createdAt)
        v.tick_policy.push(`${at}: enqueued before its tick, at ${iso(r.createdAt)}`);
      // `latest` fires the latest due tick of a round and nothing older; `backfill` may fire older ones too.
      else if (s.missed === 'latest' && next !== null && next <= r.createdAt)
        v.tick_policy.push(`${at}: fired at ${iso(r.createdAt)}, when ${iso(next)} was due already`);
      const down = flow.downtimes.some((d) => r.tick <= d.to && r.createdAt >= d.from);
      if (!down) counts.maxTickLagMs = Math.max(counts.maxTickLagMs, r.createdAt - r.tick);
    }
    counts.ticksFired += byTick.size;

    // Every tick from the first through the last expected one: fired, or missed during a downtime.
    const fired = [...byTick.keys()];
    const last = Math.max(flow.through ?? Number.NEGATIVE_INFINITY, ...fired);
    if (first === null || !Number.isFinite(last)) continue;
    const lost: number[] = [];
    for (let t: number | null = first; t !== null && t <= last; ) {
      const next = cron.after(t);
      if (!byTick.has(t)) {
        if (s.missed === 'latest' && missedInDowntime(t, next, flow.downtimes)) counts.ticksSkipped++;
        else lost.push(t);
      }
      t = next;
    }
    // A downtime's latest missed tick runs once when the engine is back (or, when the first round after it came
    // late, a tick after it does): its older missed ticks are skipped, never all of them.
    for (const d of flow.downtimes) {
      const due = cron.latest(1, first, Math.min(d.to, last))[0];
      if (due === undefined || byTick.has(due)) continue;
      if (runs.some((r) => r.tick > due && r.createdAt >= d.from) || lost.includes(due)) continue;
      lost.push(due);
      counts.ticksSkipped--;
    }
    if (lost.length > 0)
      v.ticks_lost.push(
        ...lost
          .sort((a, b) => a - b)
          .map((t) => `${s.name} ${iso(t)} never fired (${fired.length} ticks fired through ${iso(last)})`),
      );
  }
}

/**
 * Each key's units started per window. Windows are the engine's: aligned on multiples of their length since the
 * epoch, and a run takes its units from the window that holds the moment it is assigned (the claim's `now`, which
 * is its `assigned_at`), once per attempt: units of an attempt later re-queued are not given back.
 */
function judgeRates(flow: FlowAudit, v: Record<FlowViolation, string[]>, counts: FlowCounts): void {
  const limits = new Map(flow.rateLimits.map((l) => [l.key, l]));
  const used = new Map<string, Map<number, number>>();
  const seen = new Set<string>();
  const runs = new Set<string>();
  for (const a of flow.assignments) {
    const id = `${a.runId}#${a.attempt}`;
    if (seen.has(id)) continue;
    seen.add(id);
    runs.add(a.runId);
    for (const u of a.uses) {
      const limit = limits.get(u.key);
      if (!limit) {
        v.rate_overuse.push(`${id} took units of ${u.key}, which has no limit`);
        continue;
      }
      const start = Math.floor(a.assignedAt / limit.perMs) * limit.perMs;
      const windows = used.get(u.key) ?? new Map<number, number>();
      windows.set(start, (windows.get(start) ?? 0) + u.units);
      used.set(u.key, windows);
    }
  }
  counts.rateLimitedRuns = runs.size;
  counts.rateLimitedStarts = seen.size;
  for (const [key, windows] of [...used].sort(([a], [b]) => a.localeCompare(b))) {
    const limit = limits.get(key)!;
    const peak: WindowPeak = { key, max: 0, windowStart: 0, limit: limit.limit, perMs: limit.perMs };
    for (const [start, units] of windows) {
      if (units > peak.max) Object.assign(peak, { max: units, windowStart: start });
      if (units > limit.limit)
        v.rate_overuse.push(
          `${key}: ${units} units started in [${iso(start)}, ${iso(start + limit.perMs)}), limit ${limit.limit}`,
        );
    }
    counts.windows.push(peak);
  }
}

export function judgeFlow(flow: FlowAudit): {
  counts: FlowCounts;
  violations: Record<FlowViolation, string[]>;
} {
  const v = Object.fromEntries(FLOW_VIOLATIONS.map((k) => [k, [] as string[]])) as Record<
    FlowViolation,
    string[]
  >;
  const counts: FlowCounts = {
    ticksFired: 0,
    ticksSkipped: 0,
    maxTickLagMs: 0,
    rateLimitedRuns: 0,
    rateLimitedStarts: 0,
    windows: [],
  };
  judgeTicks(flow, v, counts);
  judgeRates(flow, v, counts);
  return { counts, violations: v };
}
