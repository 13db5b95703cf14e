// The wire contract shared by engine and worker.
export * from './errors.ts';
export * from './schemas.ts';
