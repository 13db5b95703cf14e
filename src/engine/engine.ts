// createEngine: wires store, keys, tokens, dispatcher, sweeper, cron loop and the API; started and stopped in order.
import type { Hono } from 'hono';
import type { TokenKind } from '../auth/tokens.ts';
import type { WorkerView } from '../protocol/api.ts';
import { PushworkerError } from '../protocol/errors.ts';
import type { ApiScope } from '../protocol/schemas.ts';
import { loadTracing } from '../tracing/tracing.ts';
import { createApi } from './api/app.ts';
import { workerView } from './api/views.ts';
import { ChildRunCanceller } from './child-cancels.ts';
import { ChildRunWaker } from './child-runs.ts';
import { type EngineConfig, type EngineConfigInput, parseEngineConfig } from './config.ts';
import type { EngineCore } from './core.ts';
import { TaskDeclarations } from './declarations.ts';
import { Dispatcher } from './dispatcher.ts';
import { Intake } from './intake.ts';
import { KeySeal } from './key-seal.ts';
import { KeyRing } from './keys.ts';
import { Metrics } from './metrics.ts';
import { Outbound } from './outbound/client.ts';
import { checkTarget } from './outbound/public-targets.ts';
import { fetchWorkerName, pullManifest, pushCancel } from './pusher.ts';
import { type FireOutcome, ScheduleFirer } from './schedule-firer.ts';
import { syncCodeSchedules } from './schedules.ts';
import { ServedTasks } from './served-tasks.ts';
import { Signals } from './signals.ts';
import { openStore } from './store/index.ts';
import { StoreUpkeep } from './store/maintenance.ts';
import type { Sql } from './store/sql.ts';
import { getWorker, upsertWorker } from './store/workers.ts';
import { Sweeper } from './sweeper.ts';
import { TokenAuthority } from './tokens.ts';
import { EngineTracing } from './tracing.ts';
import { WorkflowAdvancer } from './workflows/advancer.ts';
import { WorkflowDefinitions } from './workflows/definitions.ts';

export interface EngineOptions extends EngineConfigInput {
  /** An open store to use instead of opening one from `databaseUrl`/`dataDir`; it is not closed by `stop()`. */
  sql?: Sql;
  /** Receives unexpected errors of background loops and routes (default: console.error). */
  onError?: (error: unknown) => void;
  /** Operator notices, one line each, such as a worker whose pushes start failing (default: console.warn). */
  onNotice?: (line: string) => void;
  /**
   * Called once when the store fails for good (the embedded database's thread died, or its files are gone). The
   * engine has stopped dispatching and sweeping, and every route that needs the store answers 503
   * `store_failed`; the process should exit non-zero so that its supervisor starts it again, as the `engine`
   * command does. Default: console.error.
   */
  onFatal?: (error: PushworkerError) => void;
}

export interface Engine {
  app: Hono;
  sql: Sql;
  config: EngineConfig;
  /** The engine's base URL once known (configured `publicUrl`, or set by `serveEngine`). */
  url: string | undefined;
  start(): Promise<void>;
  /** Stops dispatching, waits for pushes in flight and the sweeper, then closes an owned store. */
  stop(): Promise<void>;
  /** Mints a token; an API token is `admin` unless given a lesser `scope`. */
  createToken(
    kind: TokenKind,
    workerName?: string,
    scope?: ApiScope,
  ): Promise<{ id: string; token: string; scope?: ApiScope }>;
  rotateKey(): Promise<string>;
  registerUrl(url: string, name?: string): Promise<WorkerView>;
  /** Runs one sweep (leases, silent workers, deadlines, retention) as at `now` (default: now). */
  sweep(now?: number): Promise<void>;
  /** Fires the schedule ticks due at `now` (default: the clock's), as the cron loop does. */
  fireSchedules(now?: number): Promise<FireOutcome>;
  jwks(): { keys: unknown[] };
}

export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const { sql: given, onError: onErrorOption, onNotice, onFatal, ...rest } = options;
  const config = parseEngineConfig(rest);
  const tracing = config.tracing ? new EngineTracing(await loadTracing()) : undefined;
  const report = onErrorOption ?? ((error: unknown) => console.error('pushworker engine:', error));
  // A failed store fails every loop and route after it: `onFatal` says so once.
  const onError = (error: unknown) => {
    if (!(error instanceof PushworkerError && error.code === 'store_failed')) report(error);
  };
  const sql =
    given ??
    (await openStore({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: config.poolSize,
    }));
  const keys = new KeyRing(sql, {
    signingKey: config.signingKey,
    secret: config.secret,
    retireMs: config.keyRetireMs,
    seal: new KeySeal(config.keyEncryptionKeys),
  });
  await keys.load();
  const signals = new Signals(sql);
  const metrics = new Metrics();
  const tokens = new TokenAuthority(sql, config.apiTokens);
  signals.onTokenRevoked((ids) => tokens.forget(ids));
  const retry = { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs };
  const children = new ChildRunWaker({ sql, signals, metrics, onError });
  const declarations = new TaskDeclarations(sql);
  const workflows = new WorkflowAdvancer({ sql, declarations, signals, metrics, onError });
  const workflowDefinitions = new WorkflowDefinitions(sql, signals);
  const intake = new Intake({
    sql,
    signals,
    metrics,
    leaseMs: config.leaseMs,
    retry,
    onChildWaits: (ids) => {
      void children.waitedOn(ids).catch(onError);
    },
    onRunsEnded: (ids, workflowRunIds) => workflows.runsEndedIn(ids, workflowRunIds),
  });
  let url = config.publicUrl?.replace(/\/$/, '');
  const outbound = new Outbound({
    allowPrivateTargets: config.allowPrivateTargets,
    maxAnswerBytes: config.maxAnswerBytes,
  });
  const pushContext = () => ({
    key: keys.signing(),
    issuer: config.engineId,
    timeoutMs: config.outboundTimeoutMs,
    outbound,
  });
  const checkWorkerUrl = (workerUrl: string) =>
    checkTarget(workerUrl, config.allowPrivateTargets, { timeoutMs: config.outboundTimeoutMs });

  async function cancelOnWorker(workerId: string, refs: { runId: string; attempt: number }[]) {
    const worker = await getWorker(sql, workerId);
    if (!worker || refs.length === 0) return;
    await pushCancel(worker, pushContext(), refs).catch(() => undefined);
  }

  const childCancels = new ChildRunCanceller({ sql, signals, metrics, cancelOnWorker, onError });

  async function registerRecord(workerUrl: string, name?: string) {
    await checkWorkerUrl(workerUrl);
    const workerName = name ?? (await fetchWorkerName(workerUrl, pushContext()));
    const manifest = await pullManifest({ url: workerUrl, name: workerName }, pushContext());
    const now = Date.now();
    const record = await upsertWorker(
      sql,
      { ...manifest, name: workerName, url: workerUrl },
      'serverless',
      now,
    );
    await syncCodeSchedules(sql, manifest.tasks, now);
    schedules.wake();
    return record;
  }

  const schedules = new ScheduleFirer({
    sql,
    signals,
    metrics,
    pollMs: config.schedulePollMs,
    onError,
    tracing,
  });
  const core: EngineCore = {
    sql,
    config,
    signals,
    keys,
    tokens,
    metrics,
    retry,
    intake,
    served: new ServedTasks(sql),
    declarations,
    workflowDefinitions,
    workflows,
    childCancels,
    cancelOnWorker,
    checkTarget: checkWorkerUrl,
    schedulesChanged: () => schedules.wake(),
    registerUrl: registerRecord,
    tracing,
  };
  const dispatcher = new Dispatcher({
    sql,
    keys,
    signals,
    metrics,
    issuer: config.engineId,
    leaseMs: config.leaseMs,
    batchSize: config.batchSize,
    pollIntervalMs: config.pollIntervalMs,
    pushTimeoutMs: config.pushTimeoutMs,
    answerWithinMs: config.answerWithinMs,
    outbound,
    maxDeliveries: config.maxDeliveries,
    retry,
    eventsUrl: () => (url ? `${url}/v1/events` : undefined),
    applyEvents: (workerName, events, via) => intake.postEvents(workerName, events, via),
    tracing,
    onError,
    notice: onNotice ?? ((line) => console.warn(`pushworker engine: ${line}`)),
  });
  const sweeper = new Sweeper({
    sql,
    signals,
    metrics,
    keys,
    intervalMs: config.sweepIntervalMs,
    workerTimeoutMs: config.workerTimeoutMs,
    workerExpiryMs: config.workerExpiryMs,
    maxDeliveries: config.maxDeliveries,
    retry,
    cancelOnWorker,
    onError,
    retentionMs: config.retentionMs,
    retentionBatchSize: config.retentionBatchSize,
    upkeep: new StoreUpkeep(sql, Date.now()),
    workflows,
    children,
    childCancels,
  });
  let started = false;
  const halt = async () => {
    if (!started) return;
    started = false;
    await Promise.allSettled([dispatcher.stop(), sweeper.stop(), schedules.stop(), signals.stop()]);
  };
  sql.onFatal?.((error) => {
    void halt().finally(() => (onFatal ?? ((e) => console.error(`pushworker engine: ${e.message}`)))(error));
  });

  return {
    app: createApi(core, onError),
    sql,
    config,
    get url() {
      return url;
    },
    set url(value) {
      url = value?.replace(/\/$/, '');
    },
    async start() {
      if (started) return;
      started = true;
      await signals.start();
      dispatcher.start();
      sweeper.start();
      schedules.start();
    },
    async stop() {
      if (started) {
        started = false;
        await dispatcher.stop();
        await intake.idle();
        await workflows.idle();
        await sweeper.stop();
        await childCancels.idle();
        await schedules.stop();
        await signals.stop();
      }
      await outbound.close();
      if (!given) await sql.close();
    },
    createToken: (kind, workerName, scope) => tokens.create(kind, workerName, scope),
    rotateKey: () => keys.rotate(),
    async registerUrl(workerUrl, name) {
      const record = await registerRecord(workerUrl, name);
      signals.workersChanged();
      return workerView((await getWorker(sql, record.id)) ?? record);
    },
    sweep: (now) => sweeper.sweep(now),
    fireSchedules: (now) => schedules.fire(now),
    jwks: () => keys.jwks(),
  };
}
