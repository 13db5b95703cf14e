// The engine's one HTTP client for worker URLs: pushes, cancel pushes, manifest pulls and /health reads. Every
// call has an overall deadline, an answer read up to a byte cap, no redirect followed (a 3xx is the answer),
// and, unless private targets are allowed, only public addresses connected to.
import type { Dispatcher } from 'undici';
import { lazyPeer } from '../../optional-peer.ts';
import { readCapped } from './capped-body.ts';
import { DeadlinePassed } from './failures.ts';
import { publicOnlyConnector } from './public-targets.ts';

const loadUndici = lazyPeer('undici', 'the engine', () => import('undici'));

export interface OutboundOptions {
  allowPrivateTargets: boolean;
  maxAnswerBytes: number;
}

export interface OutboundRequest {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** For the whole call: connecting, sending, waiting and reading the answer. */
  deadlineMs: number;
}

export interface OutboundAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export class Outbound {
  private agent: Promise<Dispatcher> | undefined;

  constructor(private readonly o: OutboundOptions) {}

  /**
   * undici's request rather than fetch: pushes are the engine's hottest requests, and fetch's Request, Response
   * and stream objects cost its thread far more than the request itself; and fetch follows redirects.
   */
  async call(url: string, r: OutboundRequest): Promise<OutboundAnswer> {
    const [{ request }, dispatcher] = await Promise.all([loadUndici(), this.dispatcher()]);
    // One timer for every phase (connecting, sending, waiting, reading), cleared when the call ends so that it
    // does not outlive a push that can take as long as a sync worker's run. undici's idle timeouts are off: set
    // to the deadline they could never fire first, only race it to say the same thing differently, and their
    // 300 s defaults would cut a sync push short.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DeadlinePassed(r.deadlineMs)), r.deadlineMs);
    try {
      const response = await request(url, {
        dispatcher,
        method: r.method,
        ...(r.headers ? { headers: r.headers } : {}),
        ...(r.body === undefined ? {} : { body: r.body }),
        signal: deadline.signal,
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      const bytes = await readCapped(response.body, this.o.maxAnswerBytes);
      return { status: response.statusCode, headers: response.headers, text: bytes.toString('utf8') };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops every connection; a call still under way fails. */
  async close(): Promise<void> {
    const agent = this.agent;
    this.agent = undefined;
    await (await agent?.catch(() => undefined))?.destroy();
  }

  private dispatcher(): Promise<Dispatcher> {
    this.agent ??= loadUndici().then(
      ({ Agent, buildConnector }) =>
        new Agent(this.o.allowPrivateTargets ? {} : { connect: publicOnlyConnector(buildConnector) }),
    );
    return this.agent;
  }
}
