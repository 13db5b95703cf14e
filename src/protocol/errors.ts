// Every error code that crosses the wire, its HTTP status, and the one error class that carries it.

export const errorStatus = {
  // push: request shape
  invalid_request: 400,
  not_found: 404,
  too_large: 413,
  // push and Hatchet: a body not vouched for yet that does not arrive within its deadline
  body_timeout: 408,
  // push: authentication (nothing ran)
  bad_signature: 401,
  expired: 401,
  wrong_audience: 401,
  body_mismatch: 401,
  replay: 401,
  unknown_key: 401,
  // push: capacity and lifecycle
  no_slot: 429,
  // as many bodies are being read before verification as the worker allows
  busy: 429,
  stopping: 503,
  // Hatchet's HTTP operator protocol (see docs/hatchet.md)
  unknown_action: 404,
  invalid_input: 422,
  task_failed: 500,
  task_failed_final: 422,
  wrong_endpoint: 403,
  // engine API
  unauthorized: 401,
  forbidden: 403,
  conflict: 409,
  /** A run delayed, or given a queue deadline, further ahead than the engine allows (a year). */
  too_far_ahead: 400,
  /** A key template names a value the run's input (or metadata) does not have. */
  unresolved_key: 422,
  /** An enqueue names a rate limit key that has no limit, set or declared. */
  unknown_rate_limit: 422,
  /** A worker URL that is, or resolves to, a private address, while private targets are not allowed. */
  forbidden_target: 422,
  internal: 500,
  // the store failed in a way it cannot recover from (the embedded database's thread died, its files are gone)
  store_failed: 503,
  // set-up: an optional peer dependency that this use needs is not installed; a deployment lacks its settings
  missing_dependency: 500,
  misconfigured: 500,
  // the client: the engine did not answer a call within the client's deadline (no answer crosses the wire)
  timeout: 504,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export class PushworkerError extends Error {
  override name = 'PushworkerError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }

  get status(): number {
    return errorStatus[this.code];
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: unknown } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export interface Issue {
  path: PropertyKey[];
  message: string;
  code: string;
}

/** The part of zod's issues that is safe and useful to send back: where, what and which rule. */
export function issuesOf(error: { issues: readonly Issue[] }): Issue[] {
  return error.issues.map(({ path, message, code }) => ({ path, message, code }));
}
