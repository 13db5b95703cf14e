// Where a worker may send its token: the origins an assignment's `eventsUrl` may name.

/**
 * The origins a worker with a token reports to: its engine's and those it is told to trust besides. A signed push
 * that names another origin as `eventsUrl` is refused, so that whoever can sign pushes (anyone holding a shared
 * HS256 secret) cannot have a worker send its bearer token elsewhere. A worker without a token sends no secret
 * with its events and takes the `eventsUrl` it is given.
 */
export class EventsOrigins {
  private readonly trusted: Set<string> | undefined;

  constructor(token: string | undefined, engineUrl: string | undefined, more: readonly string[] = []) {
    const urls = [...(engineUrl ? [engineUrl] : []), ...more];
    this.trusted = token ? new Set(urls.map((u) => new URL(u).origin)) : undefined;
  }

  /** Whether events for an assignment naming `eventsUrl` may go there (none named: the engine's own). */
  allows(eventsUrl: string | undefined): boolean {
    if (eventsUrl === undefined || this.trusted === undefined) return true;
    try {
      return this.trusted.has(new URL(eventsUrl).origin);
    } catch {
      return false;
    }
  }
}
