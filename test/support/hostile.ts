// A worker URL that misbehaves on purpose, on loopback: answers that never end, trickle, or redirect. It
// records every request it gets and, for streamed answers, how much it sent before the client hung up.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer } from './sink.ts';

export interface Sent {
  /** Bytes written into the answer body. */
  bytes: number;
  /** The connection closed before the whole answer was written. */
  cut: boolean;
  /** The answer's connection has closed. */
  closed: boolean;
}

export interface HostileServer {
  url: string;
  /** Every request, as `METHOD path`. */
  requests: string[];
  /** What each streamed or trickled answer sent, in order. */
  answers: Sent[];
  close(): Promise<void>;
}

export type Behaviour = (req: IncomingMessage, res: ServerResponse, server: HostileServer) => void;

export async function hostileServer(behaviour: Behaviour): Promise<HostileServer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const handle: HostileServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: [],
    answers: [],
    close: () => {
      server.closeAllConnections();
      return closeServer(server);
    },
  };
  server.on('request', (req, res) => {
    handle.requests.push(`${req.method} ${req.url}`);
    req.resume();
    behaviour(req, res, handle);
  });
  return handle;
}

/** Answers 200 with a JSON string `total` bytes long, written as fast as the client reads it. */
export function streamJson(total: number, prefix = '{"name":"'): Behaviour {
  return (_req, res, server) => {
    const sent: Sent = { bytes: 0, cut: false, closed: false };
    server.answers.push(sent);
    const chunk = Buffer.alloc(64 * 1024, 'a');
    res.once('close', () => {
      sent.closed = true;
      sent.cut = sent.bytes < total;
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(prefix);
    const pump = () => {
      while (sent.bytes < total && !res.destroyed) {
        sent.bytes += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end('"}');
    };
    pump();
  };
}

/** Answers 200 and then one byte every `everyMs`, never ending: no idle timeout ever fires. */
export function trickle(everyMs: number): Behaviour {
  return (_req, res, server) => {
    const sent: Sent = { bytes: 0, cut: false, closed: false };
    server.answers.push(sent);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{');
    const timer = setInterval(() => {
      sent.bytes++;
      res.write(' ');
    }, everyMs);
    res.once('close', () => {
      clearInterval(timer);
      sent.closed = true;
      sent.cut = true;
    });
  };
}

/** Answers `status` with a `Location` at `to` (the same path there). */
export function redirect(status: number, to: () => string): Behaviour {
  return (req, res) => {
    res.writeHead(status, { location: `${to()}${req.url}` }).end();
  };
}
