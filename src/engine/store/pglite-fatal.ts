// Which failures leave the embedded database unusable, so that the engine goes down instead of failing every call.
import { PushworkerError } from '../../protocol/errors.ts';
import type { ThreadError } from './pglite-messages.ts';

/**
 * On a Postgres server, SQLSTATE class 58 (a file that cannot be opened, read or written) and class XX (internal
 * error, corrupt data), and errors of FATAL or PANIC severity, end a backend or the whole server, and a new
 * backend starts clean. PGlite is one backend in one process that nothing restarts: once its files are gone or
 * its state is corrupt, every later statement fails the same way. A WebAssembly trap (an abort, exhausted
 * memory) leaves the module's state unknown.
 */
export function isFatalStoreError(error: ThreadError): boolean {
  const code = typeof error.code === 'string' ? error.code : '';
  return (
    code.startsWith('58') ||
    code.startsWith('XX') ||
    error.severity === 'FATAL' ||
    error.severity === 'PANIC' ||
    error.name === 'RuntimeError'
  );
}

export function storeFailed(cause: { message: string }): PushworkerError {
  return new PushworkerError('store_failed', `the embedded store has failed: ${cause.message}`);
}
