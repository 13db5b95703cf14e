// A long-lived worker's link to the engine: registration (retried while the engine is down) and self-heartbeats.
import { answerProblem, MAX_ENGINE_ANSWER_BYTES, readJsonAnswer } from '../http/answer.ts';
import { type Registration, RegistrationResponse, type WorkerHeartbeat } from '../protocol/schemas.ts';
import { callRetryDelayMs, sleep } from './backoff.ts';
import type { Logger } from './log.ts';

export interface EngineLinkOptions {
  engineUrl: string;
  token?: string;
  heartbeatMs: number;
  manifest: () => Registration;
  slots: () => { total: number; used: number };
  log: Logger;
  fetch?: typeof fetch;
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export class EngineLink {
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;
  workerId?: string;

  constructor(private readonly options: EngineLinkOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops the loop and tells the engine this worker is STOPPED (best effort). */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    if (this.workerId) await this.heartbeat('STOPPED').catch(() => undefined);
  }

  private async run(): Promise<void> {
    const { log, heartbeatMs, retryBaseMs = 500, retryMaxMs = 10_000 } = this.options;
    const signal = this.stopping.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (!this.workerId) {
          this.workerId = await this.register();
          log.info('registered with the engine', { workerId: this.workerId });
        } else {
          const status = await this.heartbeat('ACTIVE');
          if (status === 404) {
            log.warn('the engine does not know this worker; registering again');
            this.workerId = undefined;
            continue;
          }
          log.debug('sent heartbeat');
        }
        failures = 0;
        await sleep(heartbeatMs, signal);
      } catch (error) {
        failures++;
        const wait = callRetryDelayMs(failures, retryBaseMs, retryMaxMs);
        const what = this.workerId ? 'heartbeat' : 'registration';
        log.warn(`${what} failed; retrying`, { error: (error as Error).message, inMs: Math.round(wait) });
        await sleep(wait, signal);
      }
    }
  }

  private async register(): Promise<string> {
    const response = await this.call('PUT', '/v1/workers', this.options.manifest());
    const payload = await readJsonAnswer(response);
    if (!response.ok) throw new Error(`registration refused: ${answerProblem(response.status, payload)}`);
    const registered = RegistrationResponse.safeParse(payload);
    if (!registered.success) {
      throw new Error(
        `the engine's answer to registration is not a registration (or is over ${MAX_ENGINE_ANSWER_BYTES} bytes)`,
      );
    }
    return registered.data.workerId;
  }

  private async heartbeat(state: WorkerHeartbeat['state']): Promise<number> {
    const body: WorkerHeartbeat = { state, slots: this.options.slots() };
    const response = await this.call(
      'POST',
      `/v1/workers/${encodeURIComponent(this.workerId!)}/heartbeat`,
      body,
    );
    await response.body?.cancel();
    if (!response.ok && response.status !== 404)
      throw new Error(`engine answered ${response.status} to heartbeat`);
    return response.status;
  }

  private call(method: string, path: string, body: unknown): Promise<Response> {
    const { engineUrl, token } = this.options;
    const doFetch = this.options.fetch ?? fetch;
    return doFetch(engineEndpoint(engineUrl, path), {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  }
}

/** `{engine}{path}`, keeping any base path the engine is served under. */
export function engineEndpoint(engineUrl: string, path: string): string {
  return `${engineUrl.replace(/\/+$/, '')}${path}`;
}
