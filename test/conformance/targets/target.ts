// What the conformance scenarios need from a deployment target: one HTTP call, the engine's sink, and its limits.
import { HATCHET_SECRET } from '../../support/hatchet.ts';
import type { Pusher } from '../../support/push.ts';
import type { Sink } from '../../support/sink.ts';

export interface HttpCall {
  method: 'GET' | 'POST';
  /** Relative to the worker endpoint: `/` for pushes and the manifest, `/health`, `/metrics`. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Aborting it drops the connection mid-request, as Hatchet's operator does to cancel a task. */
  signal?: AbortSignal;
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/** Scenarios that a runtime cannot support; each is listed with its reason in the README. */
export type Limitation = 'concurrent-requests' | 'client-abort';

/** How a target names its Hatchet workflow (`HATCHET_WORKFLOW_NAME`, `HATCHET_NAMESPACE`); empty: the defaults. */
export interface HatchetNaming {
  workflowName?: string;
  namespace?: string;
}

/** The naming some targets deploy with, to prove that action ids follow configuration. */
export const HATCHET_NAMED: HatchetNaming = { workflowName: 'conformance', namespace: 'ns_' };

export interface Target {
  name: string;
  /** `async`: 202 and events; `sync`: 200 with results, and events too. */
  mode: 'async' | 'sync';
  sink: Sink;
  pusher: Pusher;
  /** The Hatchet naming this target was configured with. */
  hatchet: HatchetNaming;
  /** Every event of a sync run is in the sink by the time the response returns (Lambda freezes after it). */
  flushedOnReturn: boolean;
  call(call: HttpCall): Promise<Reply>;
  close(): Promise<void>;
}

export interface TargetFactory {
  name: string;
  unsupported?: Partial<Record<Limitation, string>>;
  /** Unmatched paths under the mount answer with the parent app's 404 (a Hono `route()` mount). */
  parentOwnsUnknownRoutes?: boolean;
  start(): Promise<Target>;
}

export const WORKER_NAME = 'conformance-worker';
export const WORKER_TOKEN = 'worker-token-secret';
export const SLOTS = 2;
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The same variables for every target: env on Node and Lambda, bindings on workerd. Every target serves
 * both protocols: `PUSHWORKER_*` for pushes, `HATCHET_*` for Hatchet's HTTP operator.
 */
export function workerEnv(sink: Sink, pusher: Pusher, hatchet: HatchetNaming = {}): Record<string, string> {
  return {
    PUSHWORKER_NAME: WORKER_NAME,
    PUSHWORKER_SLOTS: String(SLOTS),
    PUSHWORKER_JWKS: JSON.stringify(pusher.jwks),
    PUSHWORKER_ENGINE_URL: sink.url,
    PUSHWORKER_TOKEN: WORKER_TOKEN,
    PUSHWORKER_HEARTBEAT_MS: '50',
    PUSHWORKER_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
    PUSHWORKER_LOG_LEVEL: 'error',
    HATCHET_SIGNING_SECRET: HATCHET_SECRET,
    ...(hatchet.workflowName ? { HATCHET_WORKFLOW_NAME: hatchet.workflowName } : {}),
    ...(hatchet.namespace ? { HATCHET_NAMESPACE: hatchet.namespace } : {}),
  };
}

export function replyOf(status: number, headers: Headers, text: string): Reply {
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status, headers, text, json };
}
