// The public surface of `pushworker/engine`.
export type {
  BulkEnqueueRequest,
  EnqueueRequest,
  RunView,
  TaskStatsView,
  WorkerView,
} from './api/schemas.ts';
export { type EngineConfig, engineConfigFromEnv } from './config.ts';
export { createEngine, type Engine, type EngineOptions } from './engine.ts';
export { type ServedEngine, type ServeOptions, serveEngine } from './serve.ts';
export { openStore, type StoreOptions } from './store/index.ts';
export { tuneForEmbeddedStore } from './store/pglite.ts';
export type { Sql } from './store/sql.ts';
