// The public surface of pushworker: declare tasks, create a worker, sign and verify pushes. The whole wire
// contract's schemas are in `pushworker/protocol`.
export {
  createKeySet,
  generateSigningKey,
  importSigningKey,
  type KeySet,
  type KeySetOptions,
  publicJwkOf,
  type SigningKey,
  signingKeyFromSecret,
} from './auth/keys.ts';
export { signPush, verifyPush } from './auth/push.ts';
export { MemoryReplayStore, type ReplayStore } from './auth/replay.ts';
export { type ErrorCode, errorStatus, PushworkerError } from './protocol/errors.ts';
export {
  type ConcurrencySpec,
  type ConcurrencyStrategy,
  type Labels,
  PROTOCOL_VERSION,
  type RateLimitSpec,
  type RunRef,
  SIGNATURE_HEADER,
  type TaskManifest,
  type WorkerState,
} from './protocol/schemas.ts';
export { configFromEnv, type WorkerConfig } from './worker/config.ts';
export {
  type ChildOptions,
  ChildRunFailed,
  JournalTooLarge,
  type RunChildOptions,
  SuspendRequested,
  type WaitForOptions,
} from './worker/durable.ts';
export { createLogger, type Logger, type LogLevel } from './worker/log.ts';
export { RunAborted } from './worker/run.ts';
export {
  type AnyTask,
  NonRetryableError,
  type Task,
  type TaskContext,
  type TaskOptions,
  task,
} from './worker/task.ts';
export { createWorker, type Worker, type WorkerOptions } from './worker/worker.ts';
export { type Workflow, type WorkflowOptions, workflow } from './worker/workflow.ts';
