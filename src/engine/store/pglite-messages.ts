// The messages between the engine and its database thread, one type for both sides.
import type { Row } from './sql.ts';

/** What the thread is given when it starts. */
export interface ThreadData {
  dataDir: string | undefined;
  options: { postgresqlconf?: string };
}

/** A request to the thread; `id` pairs it with its reply. */
export type Request = { id: number } & (
  | { kind: 'query'; text: string; params: unknown[]; begin?: boolean }
  | { kind: 'exec'; text: string }
  | { kind: 'listen'; channel: string }
  | { kind: 'unlisten'; channel: string }
  | { kind: 'close' }
);

/** A database error with its SQLSTATE and fields, as it crosses the thread boundary. */
export type ThreadError = { message: string } & Record<string, unknown>;

/** What the thread sends: one reply per request, a notification, or `ready` once the database is open. */
export type Reply =
  | { id: number; rows: Row[] }
  | { id: number; error: ThreadError }
  | { channel: string; payload: string }
  | { ready: true };
