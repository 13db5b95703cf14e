// What the peers benchmark drives each system through, and the share of the Postgres server its connections use.
import pg from 'pg';
import { cpuMsOf } from '../load.ts';

export type Measure = 'throughput' | 'latency';

/** A queue system under test; `settings` says, for the printout, what it runs with for each measure. */
export interface System {
  name: string;
  settings: Record<Measure, string>;
  /** Starts its processes on schemas named from `prefix` (its connections carry `prefix` as their application name), with processing stopped. */
  open(databaseUrl: string, prefix: string): Promise<Opened>;
}

export interface Opened {
  /** Its own processes, whose CPU is counted as the system's. */
  pids: number[];
  /** Enqueues `count` no-op jobs, numbered from `first`, with the system's bulk enqueue. */
  enqueueBulk(first: number, count: number): Promise<void>;
  /** Enqueues job `job` alone, as a producer does; resolves once the system has taken it. */
  enqueue(job: number): Promise<void>;
  startProcessing(measure: Measure): Promise<void>;
  /** Resolves once every job enqueued has finished, as the system's own store says. */
  finished(): Promise<void>;
  /** Stops processing; when each task started (Date.now() in the task's process), by job number. */
  stopProcessing(): Promise<Map<number, number>>;
  close(): Promise<void>;
}

/** `url` with the application name its connections show in pg_stat_activity. */
export function withApplicationName(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.toString();
}

export async function dropSchemas(databaseUrl: string, schemas: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

/** CPU ms so far of each Postgres backend serving a connection whose application name starts with `prefix`. */
async function backendCpu(admin: pg.Pool, prefix: string): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE starts_with(application_name, $1)',
    [prefix],
  );
  const cpu = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      cpu.set(pid, cpuMsOf(pid));
    } catch {
      // gone since the query
    }
  }
  return cpu;
}

export type CpuUse = { processes: number; postgres: number; bench: number };

/**
 * Starts counting CPU: the system's processes, the Postgres backends of its connections (a backend that closes
 * before the count ends is left out; the server's shared background processes are not counted), and this
 * process (the load generator and the system's client). The function returned ends the count.
 */
export async function countCpu(
  admin: pg.Pool,
  prefix: string,
  pids: number[],
): Promise<() => Promise<CpuUse>> {
  const processes = () => pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
  const before = {
    processes: processes(),
    postgres: await backendCpu(admin, prefix),
    bench: process.cpuUsage(),
  };
  return async () => {
    const after = await backendCpu(admin, prefix);
    const bench = process.cpuUsage(before.bench);
    let postgres = 0;
    for (const [pid, ms] of after) postgres += ms - (before.postgres.get(pid) ?? 0);
    return { processes: processes() - before.processes, postgres, bench: (bench.user + bench.system) / 1000 };
  };
}
