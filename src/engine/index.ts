// The public surface of `pushworker/engine`.
export type {
  BulkEnqueueRequest,
  EnqueueRequest,
  RunView,
  TaskStatsView,
  WorkerView,
} from '../protocol/api.ts';
export { type EngineConfig, engineConfigFromEnv } from './config.ts';
export { createEngine, type Engine, type EngineOptions } from './engine.ts';
export { type ServedEngine, type ServeEngineOptions, serveEngine } from './serve.ts';
