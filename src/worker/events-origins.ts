// Where a worker may send its token: the origins an assignment's `eventsUrl` may name.

/**
 * The origins a worker reports to: its engine's and those it is told to trust besides. A signed push that names
 * another origin as `eventsUrl` is refused, so that whoever can sign pushes (anyone holding a shared HS256
 * secret) cannot have a worker send its bearer token elsewhere.
 */
export class EventsOrigins {
  private readonly trusted: Set<string>;

  constructor(engineUrl: string | undefined, more: readonly string[] = []) {
    const urls = [...(engineUrl ? [engineUrl] : []), ...more];
    this.trusted = new Set(urls.map((u) => new URL(u).origin));
  }

  /** Whether events for an assignment naming `eventsUrl` may go there (none named: the engine's own). */
  allows(eventsUrl: string | undefined): boolean {
    if (eventsUrl === undefined) return true;
    try {
      return this.trusted.has(new URL(eventsUrl).origin);
    } catch {
      return false;
    }
  }
}
