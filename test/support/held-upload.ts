// An HTTP/1.1 upload over a raw socket whose body is sent in part, or slowly: what a worker must not wait for.
import { connect, type Socket } from 'node:net';

export interface Answer {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  json: any;
  /** Body bytes the client had written when the answer's head arrived. */
  sentBefore: number;
}

export interface HeldUpload {
  socket: Socket;
  /** The answer, once its head and body have arrived; rejects if the socket closes before a head. */
  answer: Promise<Answer>;
  /** Body bytes written so far. */
  readonly sent: number;
  /** The server closed the connection (or it failed). */
  readonly closed: boolean;
  write(bytes: Uint8Array): void;
}

/** Connects, sends the request head with `content-length: declared`, and sends no body until told. */
export async function startUpload(
  port: number,
  options: { path?: string; headers: Record<string, string>; declared: number },
): Promise<HeldUpload> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let sent = 0;
  let closed = false;
  // Writes the server refuses once it has answered and closed are expected: only the answer matters.
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    let received = Buffer.alloc(0);
    let head:
      | { status: number; headers: Record<string, string>; bodyAt: number; sentBefore: number }
      | undefined;
    const settle = () => {
      if (!head) return;
      const length = Number(head.headers['content-length'] ?? 0);
      const body = received.subarray(head.bodyAt);
      if (body.length < length && !closed) return;
      const text = body.subarray(0, length).toString('utf8');
      resolve({
        status: head.status,
        headers: head.headers,
        json: text ? JSON.parse(text) : undefined,
        sentBefore: head.sentBefore,
      });
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (!head) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [statusLine, ...lines] = received.subarray(0, end).toString('latin1').split('\r\n');
        const headers = Object.fromEntries(
          lines.map((l) => [
            l.slice(0, l.indexOf(':')).trim().toLowerCase(),
            l.slice(l.indexOf(':') + 1).trim(),
          ]),
        );
        head = { status: Number(statusLine!.split(' ')[1]), headers, bodyAt: end + 4, sentBefore: sent };
      }
      settle();
    });
    socket.on('close', () => (head ? settle() : reject(new Error('the connection closed before an answer'))));
  });
  answer.catch(() => {});
  const lines = Object.entries({
    host: `127.0.0.1:${port}`,
    ...options.headers,
    'content-length': String(options.declared),
  });
  socket.write(
    `POST ${options.path ?? '/'} HTTP/1.1\r\n${lines.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`,
  );
  return {
    socket,
    answer,
    get sent() {
      return sent;
    },
    get closed() {
      return closed;
    },
    write(bytes) {
      if (closed || socket.destroyed) return;
      sent += bytes.length;
      socket.write(bytes);
    },
  };
}
