// Signing and verification shared by engine and worker.
export * from './hash.ts';
export * from './keys.ts';
export * from './push.ts';
export * from './replay.ts';
