// How a command's end is said: one line on stderr and an exit code.
import { PushworkerError } from '../protocol/errors.ts';
import { CommandFailure, UsageError } from './args.ts';

/** One line for anything that ends a command, and its exit code: 2 for a usage mistake, 1 for the rest. */
export function failureOf(error: unknown): { line: string; code: number } {
  if (error instanceof UsageError) return { line: `pushworker: ${error.message}`, code: 2 };
  if (error instanceof PushworkerError || error instanceof CommandFailure) {
    return { line: `pushworker: ${error.message}`, code: 1 };
  }
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (error instanceof TypeError && error.message === 'fetch failed') {
    return {
      line: `pushworker: cannot reach the engine (${cause?.code ?? cause?.message}); is it running?`,
      code: 1,
    };
  }
  return {
    line: `pushworker: ${(error as Error).message ?? error} (set PUSHWORKER_DEBUG=1 for details)`,
    code: 1,
  };
}
