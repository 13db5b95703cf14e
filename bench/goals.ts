// The performance goals the benchmarks print their figures against, each in one place.

/** Per store: backlog drain against the bare route, engine CPU a run at 500 runs/s, engine RSS with 100k queued. */
export const STORE_GOALS = {
  embedded: { backlog: 0.6, engineCpuMs: 1.0, queuedMb: 160 },
  postgres: { backlog: 1.0, engineCpuMs: 0.5, queuedMb: 200 },
} as const;
/** From the client's send to the task's start at 500 runs/s offered, on either store. */
export const SEND_GOALS = { p50: 5, p99: 20 } as const;
/** Engine and worker RSS together through the Postgres latency phase. */
export const LATENCY_RSS_GOAL_MB = 150;
/** The worker's CPU a run. */
export const WORKER_CPU_GOAL_MS = 0.3;
/** pushworker's backlog drain against graphile-worker's with its throughput settings. */
export const GRAPHILE_DRAIN_GOAL = 2;
/** A three-task chain, one run at a time: from the send to the last task's finish, p50. */
export const CHAIN_P50_GOAL_MS = 25;
/** Durable runs resumed past their due time, p99. */
export const WAKE_P99_GOAL_MS = 50;
