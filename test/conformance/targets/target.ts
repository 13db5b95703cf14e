// What the conformance scenarios need from a deployment target: one HTTP call, the engine's sink, and its limits.
import { HATCHET_SECRET } from '../../support/hatchet.ts';
import { createPusher, type Pusher } from '../../support/push.ts';
import { type Sink, startSink } from '../../support/sink.ts';

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

/** The engine a target's worker reports to: its events URL, the keys it signs pushes with, and a worker token. */
export interface EngineWiring {
  engineUrl: string;
  jwks: { keys: Record<string, unknown>[] };
  token: string;
}

/** A target deployed against some engine: HTTP calls to it, and its URL when it listens on one. */
export interface Deployment {
  mode: 'async' | 'sync';
  /** Where an engine reaches it; absent for a runtime invoked without a socket (Lambda). */
  url?: string;
  call(call: HttpCall): Promise<Reply>;
  close(): Promise<void>;
}

export interface TargetFactory {
  name: string;
  unsupported?: Partial<Record<Limitation, string>>;
  /** Unmatched paths under the mount answer with the parent app's 404 (a Hono `route()` mount). */
  parentOwnsUnknownRoutes?: boolean;
  /** Deployed against the test's sink and pusher, which play the engine. */
  start(): Promise<Target>;
  /** Deployed against a real engine. */
  deploy(engine: EngineWiring): Promise<Deployment>;
}

/** The sink as the engine: events go to it, and the pusher's keys sign the pushes. */
export function sinkWiring(sink: Sink, pusher: Pusher): EngineWiring {
  return { engineUrl: sink.url, jwks: pusher.jwks, token: WORKER_TOKEN };
}

/** A factory's `start` from its `deploy`: the deployment wired to a fresh sink and pusher. */
export async function startOnSink(
  name: string,
  deploy: (engine: EngineWiring) => Promise<Deployment>,
  options: { hatchet: HatchetNaming; flushedOnReturn: boolean },
): Promise<Target> {
  const sink = await startSink();
  const pusher = await createPusher(WORKER_NAME);
  const deployment = await deploy(sinkWiring(sink, pusher));
  return {
    name,
    mode: deployment.mode,
    sink,
    pusher,
    ...options,
    call: (c) => deployment.call(c),
    async close() {
      await deployment.close();
      await sink.close();
    },
  };
}

export const WORKER_NAME = 'conformance-worker';
export const WORKER_TOKEN = 'worker-token-secret';
export const SLOTS = 2;
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The same variables for every target: env on Node and Lambda, bindings on workerd. Every target serves
 * both protocols: `PUSHWORKER_*` for pushes, `HATCHET_*` for Hatchet's HTTP operator.
 */
export function workerEnv(engine: EngineWiring, hatchet: HatchetNaming = {}): Record<string, string> {
  return {
    PUSHWORKER_NAME: WORKER_NAME,
    PUSHWORKER_SLOTS: String(SLOTS),
    PUSHWORKER_JWKS: JSON.stringify(engine.jwks),
    PUSHWORKER_ENGINE_URL: engine.engineUrl,
    PUSHWORKER_TOKEN: engine.token,
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
