// What the API routes share with the engine's loops: the store, signals, keys, tokens and metrics.
import type { ChildRunCanceller } from './child-cancels.ts';
import type { EngineConfig } from './config.ts';
import type { TaskDeclarations } from './declarations.ts';
import type { Intake } from './intake.ts';
import type { KeyRing } from './keys.ts';
import type { Metrics } from './metrics.ts';
import type { ServedTasks } from './served-tasks.ts';
import type { Signals } from './signals.ts';
import type { WorkerRecord } from './store/records.ts';
import type { RetryPolicy } from './store/retry.ts';
import type { Sql } from './store/sql.ts';
import type { TokenAuthority } from './tokens.ts';
import type { EngineTracing } from './tracing.ts';
import type { WorkflowAdvancer } from './workflows/advancer.ts';
import type { WorkflowDefinitions } from './workflows/definitions.ts';

export interface EngineCore {
  sql: Sql;
  config: EngineConfig;
  signals: Signals;
  keys: KeyRing;
  tokens: TokenAuthority;
  metrics: Metrics;
  retry: RetryPolicy;
  /** Group-committed enqueues and worker events. */
  intake: Intake;
  /** Which tasks an ACTIVE worker serves, for the warnings of enqueues nothing can run yet. */
  served: ServedTasks;
  /** The rate limits and concurrency tasks declare, for the runs enqueued. */
  declarations: TaskDeclarations;
  /** The DAG of each workflow, as its workers declare it. */
  workflowDefinitions: WorkflowDefinitions;
  /** Tells a worker to stop attempts (best effort, signed cancel push). */
  cancelOnWorker(workerId: string, refs: { runId: string; attempt: number }[]): Promise<void>;
  /** Refuses a worker URL the engine may not push to (`forbidden_target`, `invalid_request`). */
  checkTarget(url: string): Promise<void>;
  /** A schedule was created or resumed: the cron loop looks again now. */
  schedulesChanged(): void;
  /** Moves workflow runs on when their task runs end. */
  workflows: WorkflowAdvancer;
  /** Cancels the live child runs of cancelled runs, down every generation. */
  childCancels: ChildRunCanceller;
  /** Registers a serverless worker by pulling its signed manifest. */
  registerUrl(url: string, name?: string): Promise<WorkerRecord>;
  /** Spans of enqueues, queue time and pushes; undefined unless tracing is on. */
  tracing?: EngineTracing | undefined;
}
