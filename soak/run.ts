// `npm run soak`: the engine and three Node workers as child processes under faults; exits 1 on any violation.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createClient } from '../src/client/index.ts';
import { openStore } from '../src/engine/store/index.ts';
import { CronTicks } from '../src/protocol/cron.ts';
import { readAudit, readDurableAudit, readFlowAudit } from './audit.ts';
import { type Book, type BookLine, type FinalRun, judge, type PlannedRun } from './check.ts';
import type { DurableAudit, WorkflowPlan } from './durable.ts';
import type { Downtime, FlowAudit } from './flow.ts';
import {
  DURABLE_FLOW,
  type FlowPlan,
  flowEnqueuedAt,
  LOAD_PRIORITY,
  plan,
  planFlow,
  planLimited,
  SCHEDULE,
  seeded,
} from './plan.ts';
import { dropSchema, freshSchema } from './postgres.ts';
import {
  alive,
  type Child,
  type HeldAddress,
  holdAddress,
  listening,
  spawnScript,
  stopChild,
  tail,
  until,
} from './processes.ts';
import { Waker } from './waker.ts';

/**
 * `workflows`: runs of the durable workflow (plan.ts), enqueued after the load. `limited`: rate-limited runs enqueued among the `runs` (see LIMITED_RATE_LIMITS). `downMs`: how long the engine
 * stays down at its restart, beyond its stop and start, so that several of the schedule's ticks are missed.
 */
const PROFILES = {
  full: {
    runs: 20_000,
    limited: 2_000,
    workflows: 300,
    timeLimitMs: 20 * 60_000,
    slots: 8,
    killEveryMs: 4_000,
    downMs: 5_000,
  },
  short: {
    runs: 1_500,
    limited: 200,
    workflows: 36,
    timeLimitMs: 150_000,
    slots: 6,
    killEveryMs: 2_500,
    downMs: 3_000,
  },
} as const;

const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: process.env.SOAK_PROFILE ?? 'short' },
    runs: { type: 'string' },
    limited: { type: 'string' },
    workflows: { type: 'string' },
    seed: { type: 'string' },
    'database-url': { type: 'string' },
    /** How the engine is stopped for its restart: SIGTERM (graceful) or SIGKILL (use a Postgres store). */
    'engine-signal': { type: 'string', default: 'SIGTERM' },
    keep: { type: 'boolean', default: false },
  },
});
const profileName = values.profile as keyof typeof PROFILES;
const profile = PROFILES[profileName];
if (!profile) {
  console.error(`soak: unknown profile "${values.profile}" (full or short)`);
  process.exit(2);
}
const loadRuns = values.runs ? Number(values.runs) : profile.runs;
const limitedRuns = values.limited ? Number(values.limited) : profile.limited;
const workflowRuns = values.workflows ? Number(values.workflows) : profile.workflows;
const totalRuns = loadRuns + limitedRuns;
const seed = values.seed ? Number(values.seed) : Date.now() % 1_000_000;
const random = seeded(seed);
const here = fileURLToPath(new URL('.', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pushworker-soak-'));
mkdirSync(join(dir, 'books'));
const API_TOKEN = `pwa_soak_${crypto.randomUUID()}`;
const started = Date.now();
const say = (line: string) => console.error(`[soak ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);

// Every child binds port 0 and names its port in its listen line. Each is reached at an address held here and
// forwarded to its port, the same for all its starts: a restarted engine or worker comes back at its address.
const engineAddress = await holdAddress();
const engineUrl = engineAddress.url;
const databaseUrl = await freshSchema(values['database-url'] ?? process.env.SOAK_DATABASE_URL);
const engineSignal = values['engine-signal'] as NodeJS.Signals;
if (engineSignal !== 'SIGTERM' && engineSignal !== 'SIGKILL') {
  console.error('soak: --engine-signal is SIGTERM or SIGKILL');
  process.exit(2);
}
const dataDir = join(dir, 'engine-data');
const engineConfig = {
  ...(databaseUrl ? { databaseUrl } : { dataDir }),
  publicUrl: engineUrl,
  apiTokens: [API_TOKEN],
  allowPrivateTargets: true,
  leaseMs: 3_000,
  workerTimeoutMs: 3_000,
  sweepIntervalMs: 250,
  pollIntervalMs: 100,
  retryBaseMs: 50,
  retryMaxMs: 500,
  batchSize: 50,
  pushTimeoutMs: 10_000,
};
const client = createClient({ url: engineUrl, token: API_TOKEN });
const faults = { workerKills: 0, gracefulStops: 0, engineRestarts: 0, gracefulExitCodes: [] as number[] };
let engine: Child | undefined;
let engineStarts = 0;
/** When the engine was down: from the stop signal to the restarted engine's start (its cron loop's). */
const downtimes: Downtime[] = [];

/** Starts the engine; resolves with the moment it had started (the time in its ready line) once it listens. */
async function startEngine(): Promise<number> {
  engineStarts++;
  engine = spawnScript(
    join(here, 'engine.ts'),
    { SOAK_ENGINE: JSON.stringify(engineConfig) },
    join(dir, `engine-${engineStarts}.log`),
  );
  const child = engine;
  engineAddress.forwardTo(await listening(child, 'the engine'));
  await until(
    async () => (await fetch(`${engineUrl}/health`)).ok || !alive(child),
    'the engine to answer',
    60_000,
  );
  if (!alive(child)) throw new Error(`the engine exited:\n${tail(child.logFile)}`);
  const ready = await until(
    () =>
      / at=(\d+)/.exec(readFileSync(child.logFile, 'utf8'))?.[1] ?? (!alive(child) ? 'exited' : undefined),
    'the engine to be ready',
    60_000,
  );
  if (ready === 'exited') throw new Error(`the engine exited:\n${tail(child.logFile)}`);
  return Number(ready);
}

async function stopEngine(signal: NodeJS.Signals) {
  if (!engine) return;
  await stopChild(engine, signal);
  // Until the next start says where it listens, connections wait for it.
  engineAddress.forwardTo(undefined);
}

interface SoakWorker {
  name: string;
  address: HeldAddress;
  token: string;
  child?: Child;
  incarnation: number;
}
const workers: SoakWorker[] = [];

function startWorker(w: SoakWorker): void {
  w.incarnation++;
  const child = spawnScript(
    join(here, 'worker.ts'),
    {
      PORT: '0',
      SOAK_LOG: join(dir, 'books', `${w.name}.${w.incarnation}.jsonl`),
      PUSHWORKER_NAME: w.name,
      PUSHWORKER_SLOTS: String(profile.slots),
      PUSHWORKER_URL: `${w.address.url}/`,
      PUSHWORKER_ENGINE_URL: engineUrl,
      PUSHWORKER_JWKS_URL: `${engineUrl}/.well-known/jwks.json`,
      PUSHWORKER_TOKEN: w.token,
      PUSHWORKER_HEARTBEAT_MS: '500',
      PUSHWORKER_SHUTDOWN_GRACE_MS: '15000',
    },
    join(dir, `${w.name}.${w.incarnation}.log`),
  );
  w.child = child;
  // Found in the background: the fault loop goes on meanwhile, and pushes to the address wait for the port.
  listening(child, w.name).then(
    (url) => {
      if (w.child === child) w.address.forwardTo(url);
    },
    (error: Error) => {
      if (w.child === child) say(`${w.name}: ${error.message}`);
    },
  );
}

async function stopWorker(w: SoakWorker, signal: NodeJS.Signals, graceMs?: number) {
  if (!w.child) return { code: null, signal: null };
  const exit = await stopChild(w.child, signal, graceMs);
  w.address.forwardTo(undefined);
  return exit;
}

/** Every tick of the schedule up to `through` has fired, as the engine reports it (its `lastTickAt`). */
async function ticksFiredThrough(through: number): Promise<boolean> {
  const s = await client.getSchedule(SCHEDULE.name);
  return s.lastTickAt !== null && Date.parse(s.lastTickAt) >= through;
}

async function progress(): Promise<{ open: number } | undefined> {
  try {
    const stats = await client.taskStats();
    return { open: stats.reduce((n, s) => n + s.queued + s.assigned + s.running, 0) };
  } catch {
    return undefined;
  }
}

/** No workflow run is still running (a task run may end before its workflow run is advanced). */
async function workflowsEnded(): Promise<boolean> {
  const { workflowRuns: running } = await client.listWorkflowRuns({ state: 'RUNNING', limit: 1 });
  return running.length === 0;
}

async function listAll(): Promise<FinalRun[]> {
  const all: FinalRun[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listRuns({ limit: 500, ...(cursor ? { cursor } : {}) });
    all.push(...page.runs);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return all;
}

const planned: PlannedRun[] = [];
const workflowPlans: WorkflowPlan[] = [];
const waker = new Waker(client);
/** When the soak saw every run and workflow run end. */
let endedAt = Date.now();
let failure: string | undefined;
/** The latest tick the soak saw fired before it paused the schedule: every one up to it must have run. */
let ticksThrough: number | undefined;
try {
  say(
    `profile=${profileName} runs=${loadRuns}+${limitedRuns} rate-limited seed=${seed} dir=${dir} store=${databaseUrl ? 'postgres' : 'pglite'}`,
  );
  await startEngine();
  const names = ['soak-a', 'soak-b', 'soak-c'];
  // Each worker's address is held for all its incarnations (a restarted worker comes back at its address).
  for (const name of names) {
    const { token } = await client.createToken('worker', name);
    workers.push({ name, address: await holdAddress(), token, incarnation: 0 });
  }
  for (const w of workers) startWorker(w);
  await until(
    async () => (await client.listWorkers()).filter((w) => w.state === 'ACTIVE').length === 3,
    'three ACTIVE workers',
    60_000,
  );
  // A tick every two seconds for the whole soak, through the faults and the engine restart; paused at the end.
  await client.createSchedule({ ...SCHEDULE });
  say(`engine and three workers up; schedule ${SCHEDULE.name} created (${SCHEDULE.cron}); enqueueing`);
  // The load with the rate-limited runs shuffled in among it.
  const plans = [
    ...Array.from({ length: loadRuns }, () => plan(random)),
    ...Array.from({ length: limitedRuns }, () => planLimited(random)),
  ];
  for (let i = plans.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [plans[i], plans[j]] = [plans[j]!, plans[i]!];
  }
  for (let i = 0; i < totalRuns; i += 1000) {
    const chunk = plans.slice(i, i + 1000);
    const runs = await client.enqueueMany(chunk.map((c) => ({ ...c.request, priority: LOAD_PRIORITY })));
    runs.forEach((r, j) => {
      planned.push({ id: r.id, expected: chunk[j]!.expected });
    });
  }
  const flows: FlowPlan[] = Array.from({ length: workflowRuns }, (_, i) => planFlow(random, i));
  /** Enqueues the workflow runs due by the load's progress; one that failed (the engine restarting) is retried. */
  const enqueueFlows = async (done: number) => {
    while (
      workflowPlans.length < flows.length &&
      done >= flowEnqueuedAt(workflowPlans.length, flows.length)
    ) {
      const { input, wake } = flows[workflowPlans.length]!;
      try {
        const run = await client.runWorkflow({
          workflow: DURABLE_FLOW.workflow,
          input,
          idempotencyKey: `soak:${input.flow}`,
        });
        workflowPlans.push({ workflowRunId: run.id, flow: input.flow, wake });
        waker.add(workflowPlans.at(-1)!);
      } catch {
        return;
      }
    }
  };
  waker.start();
  say(`${planned.length} runs enqueued; faults begin, and ${flows.length} workflow runs among them`);

  const [victim, , graceful] = workers as [SoakWorker, SoakWorker, SoakWorker];
  let nextKill = Date.now() + profile.killEveryMs;
  let gracefulAt: number | undefined;
  let engineRestarted = false;
  let lastOpen = totalRuns;
  let lastReport = 0;
  for (;;) {
    if (Date.now() - started > profile.timeLimitMs)
      throw new Error('time limit reached before every run ended');
    const p = await progress();
    if (p) lastOpen = p.open;
    const done = 1 - lastOpen / totalRuns;
    await enqueueFlows(done);
    const flowsIn = workflowPlans.length === flows.length;
    if (p && p.open === 0 && flowsIn && (await workflowsEnded().catch(() => false))) break;
    if (Date.now() - lastReport > 5_000) {
      lastReport = Date.now();
      say(`${totalRuns - lastOpen}/${totalRuns} terminal`);
    }
    // A worker killed with SIGKILL and restarted every few seconds.
    if (Date.now() >= nextKill) {
      await stopWorker(victim, 'SIGKILL');
      faults.workerKills++;
      startWorker(victim);
      nextKill = Date.now() + profile.killEveryMs * (0.6 + random() * 0.8);
    }
    // One worker stopped gracefully (SIGTERM, drain), then started again.
    if (gracefulAt === undefined && done >= 0.2) {
      gracefulAt = Date.now();
      say('stopping soak-c gracefully');
      const exit = await stopWorker(graceful, 'SIGTERM');
      faults.gracefulStops++;
      faults.gracefulExitCodes.push(exit.code ?? -1);
      startWorker(graceful);
    }
    // One engine restart mid-run.
    if (!engineRestarted && done >= 0.5) {
      engineRestarted = true;
      say(`restarting the engine (${engineSignal})`);
      const from = Date.now();
      await stopEngine(engineSignal);
      faults.engineRestarts++;
      await new Promise((r) => setTimeout(r, profile.downMs));
      const to = await startEngine();
      downtimes.push({ from, to });
      say(`engine back, down for ${to - from} ms (from=${from} to=${to})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // The schedule fired all along: its ticks up to now must fire, then it is paused and its last runs end.
  const through = new CronTicks(SCHEDULE.cron).latest(1, 0, Date.now())[0]!;
  ticksThrough = through;
  await until(
    () => ticksFiredThrough(through),
    `the tick of ${new Date(through).toISOString()} to fire`,
    15_000,
  );
  await client.pauseSchedule(SCHEDULE.name);
  await until(async () => (await progress())?.open === 0, "the last ticks' runs to end", 60_000);
  endedAt = Date.now();
  say('every run is terminal; checking');
} catch (error) {
  failure = (error as Error).message;
  say(`failed: ${failure}`);
}

await waker.stop();
let finals: FinalRun[] = [];
try {
  finals = await listAll();
} catch (error) {
  failure ??= `could not list runs: ${(error as Error).message}`;
}
for (const w of workers) await stopWorker(w, 'SIGTERM', 20_000);
await stopEngine('SIGTERM');
for (const address of [...workers.map((w) => w.address), engineAddress]) await address.close();

// The ticks' runs are checked as every planned run is, and should all complete.
const plannedIds = new Set(planned.map((p) => p.id));
for (const r of finals)
  if (r.task === SCHEDULE.task && !plannedIds.has(r.id)) planned.push({ id: r.id, expected: 'COMPLETED' });

let audit: Awaited<ReturnType<typeof readAudit>> = [];
let flow: FlowAudit | undefined;
let durable: DurableAudit | undefined;
try {
  const sql = await openStore(databaseUrl ? { databaseUrl } : { dataDir });
  audit = await readAudit(sql);
  flow = { ...(await readFlowAudit(sql)), downtimes, ...(ticksThrough ? { through: ticksThrough } : {}) };
  durable = { ...(await readDurableAudit(sql)), plans: workflowPlans, downtimes, end: endedAt };
  await sql.close();
} catch (error) {
  failure ??= `could not read the store audit: ${(error as Error).message}`;
}

const books: Book[] = readdirSync(join(dir, 'books')).map((file) => ({
  worker: file,
  slots: profile.slots,
  lines: readFileSync(join(dir, 'books', file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as BookLine),
}));
const secrets = [API_TOKEN, ...workers.map((w) => w.token)];
const leaks: string[] = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith('.log'))) {
  const text = readFileSync(join(dir, file), 'utf8');
  for (const s of secrets) if (text.includes(s)) leaks.push(`${file} contains a token`);
}

const verdict = judge(planned, finals, books, audit, leaks, flow, durable);
const c = verdict.counts;
const f = c.flow;
const d = c.durable;
const v = verdict.violations;
const seconds = ((Date.now() - started) / 1000).toFixed(1);
const gracefulOk = faults.gracefulExitCodes.every((code) => code === 0);
const violations = verdict.total + (failure ? 1 : 0) + (gracefulOk ? 0 : 1);
for (const [kind, list] of Object.entries(v)) {
  if (list.length > 0) say(`${kind}: ${list.length}, e.g. ${list.slice(0, 5).join('; ')}`);
}
if (!gracefulOk) say(`graceful stop exit codes: ${faults.gracefulExitCodes.join(',')}`);
if (violations > 0)
  for (const w of workers)
    say(`${w.name} log tail:\n${tail(join(dir, `${w.name}.${w.incarnation}.log`), 10)}`);
console.log(
  [
    `soak profile=${profileName}`,
    `runs=${c.runs}`,
    `terminal=${c.completed + c.failed + c.cancelled}`,
    `completed=${c.completed}`,
    `failed=${c.failed}`,
    `retried=${c.retried}`,
    `executions=${c.executions}`,
    `recorded_once=${c.completed + c.failed - v.duplicate_records.length}`,
    `lost=${v.lost.length}`,
    `stuck=${v.stuck.length}`,
    `wrong_outcome=${v.wrong_outcome.length}`,
    `bad_record=${v.bad_record.length}`,
    `duplicate_records=${v.duplicate_records.length}`,
    `duplicate_executions=${v.duplicate_executions.length}`,
    `stale_accepted=${v.stale_accepted.length}`,
    `slot_overuse=${v.slot_overuse.length}`,
    `max_slots_used=${c.maxSlotsUsed}/${profile.slots}`,
    `ticks_fired=${f?.ticksFired ?? 0}`,
    `ticks_skipped=${f?.ticksSkipped ?? 0}`,
    `max_tick_lag_ms=${f?.maxTickLagMs ?? 0}`,
    `tick_duplicates=${v.tick_duplicates.length}`,
    `ticks_lost=${v.ticks_lost.length}`,
    `tick_policy=${v.tick_policy.length}`,
    `rate_limited_runs=${f?.rateLimitedRuns ?? 0}`,
    `rate_limited_starts=${f?.rateLimitedStarts ?? 0}`,
    `rate_window_max=${(f?.windows ?? []).map((w) => `${w.key}:${w.max}/${w.limit}`).join(',') || 'none'}`,
    `rate_overuse=${v.rate_overuse.length}`,
    `workflow_runs=${d?.workflowRuns ?? 0}`,
    `workflows_completed=${d?.workflowsCompleted ?? 0}`,
    `durable_runs=${d?.durableRuns ?? 0}`,
    `child_runs=${d?.childRuns ?? 0}`,
    `step_executions=${d?.stepExecutions ?? 0}`,
    `steps_rerun=${d?.stepsRerun ?? 0}`,
    `suspensions=${d?.suspensions ?? 0}`,
    `suspended_across_restart=${d?.suspendedAcrossRestart ?? 0}`,
    `wakes_planned=${d?.wakesPlanned ?? 0}`,
    `wakes_published=${d?.wakesPublished ?? 0}`,
    `waits_woken=${d?.waitsWoken ?? 0}`,
    `waits_timed_out=${d?.waitsTimedOut ?? 0}`,
    `workflow_terminal=${v.workflow_terminal.length}`,
    `workflow_state=${v.workflow_state.length}`,
    `workflow_task_duplicates=${v.workflow_task_duplicates.length}`,
    `step_records=${v.step_records.length}`,
    `step_duplicates=${v.step_duplicates.length}`,
    `step_rewrites=${v.step_rewrites.length}`,
    `lost_wakes=${v.lost_wakes.length}`,
    `wakes_missed=${v.wakes_missed.length}`,
    `secret_leaks=${v.secret_leaks.length}`,
    `worker_kills=${faults.workerKills}`,
    `graceful_stops=${faults.gracefulStops}`,
    `engine_restarts=${faults.engineRestarts}`,
    `engine_signal=${engineSignal}`,
    `store=${databaseUrl ? 'postgres' : 'pglite'}`,
    `seconds=${seconds}`,
    `seed=${seed}`,
    `violations=${violations}`,
  ].join(' '),
);
if (violations === 0 && !values.keep) {
  rmSync(dir, { recursive: true, force: true });
  await dropSchema(databaseUrl).catch(() => {});
} else say(`artifacts kept in ${dir}`);
process.exit(violations === 0 ? 0 : 1);
