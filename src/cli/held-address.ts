// A loopback address held for a child process started on port 0. The child binds a port of its own and says
// which in its listen line; connections to the held address are piped to that port. No process is told a port
// that looked free and binds it later (another may take it in between), and the address stays the same when the
// child is restarted on another port: a restarted worker registers at the address it had.
import { createConnection, createServer, type Socket } from 'node:net';

export interface HeldAddress {
  /** `http://127.0.0.1:PORT`, bound (port 0) before this is returned. */
  readonly url: string;
  readonly port: number;
  /**
   * Where connections go from now on: the URL the child listens on. `undefined` while there is none (the child
   * exited): connections then wait for the next one, up to `waitMs`, and are closed after that.
   */
  forwardTo(url: string | undefined): void;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

const LISTENING = /listening on (?:\S+, every interface \()?(https?:\/\/[^\s)"]+)/;

/**
 * The URL in a listen line: `listening on http://127.0.0.1:PORT`, as `serve` from pushworker/node logs it (on
 * every interface: `listening on 0.0.0.0:PORT, every interface (http://127.0.0.1:PORT from this machine)`).
 */
export function listenedUrl(line: string): string | undefined {
  return LISTENING.exec(line)?.[1];
}

export async function holdAddress(options: { waitMs?: number } = {}): Promise<HeldAddress> {
  const waitMs = options.waitMs ?? 10_000;
  let target: { host: string; port: number } | undefined;
  let closed = false;
  const sockets = new Set<Socket>();
  const waiting = new Set<() => void>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  const pipe = (client: Socket, to: { host: string; port: number }) => {
    // Half-closes are passed on, each way: a client that has sent all it will still gets the whole answer.
    const upstream = createConnection({ ...to, allowHalfOpen: true });
    track(upstream);
    // Either side going away takes the other with it, as a connection to the child itself would.
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.once('error', cut).once('close', cut);
    client.once('close', cut);
    client.pipe(upstream);
    upstream.pipe(client);
  };

  const server = createServer({ allowHalfOpen: true }, (client) => {
    track(client);
    client.once('error', () => client.destroy());
    if (closed) return client.destroy();
    if (target) return pipe(client, target);
    // No child listening yet: the connection waits (its bytes buffered) until one is.
    const go = () => {
      clearTimeout(timer);
      waiting.delete(go);
      client.off('close', go);
      if (target && !client.destroyed) pipe(client, target);
      else client.destroy();
    };
    const timer = setTimeout(go, waitMs);
    waiting.add(go);
    client.once('close', go);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    forwardTo(url) {
      if (url === undefined) {
        target = undefined;
        return;
      }
      const { hostname, port } = new URL(url);
      const host = hostname.replace(/^\[|\]$/g, '');
      // A child on every interface is reached on loopback.
      target = { host: host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host, port: Number(port || 80) };
      for (const go of [...waiting]) go();
    },
    async close() {
      closed = true;
      target = undefined;
      for (const go of [...waiting]) go();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await stopped;
    },
  };
}
