// Node's fast path for request bodies: read from the `IncomingMessage` that @hono/node-server puts in the bindings.
import type { IncomingMessage } from 'node:http';
import type { BodyRead, BodyReader } from '../http/body.ts';

/** Node's request, with the raw body some frameworks (a raw body parser mounted before us) leave on it. */
type NodeRequest = IncomingMessage & { rawBody?: unknown };

/**
 * Served by @hono/node-server, whose bindings carry Node's own request as `incoming`, the body is read from that
 * request. Reading it through the Web `Request` makes node-server build that Request and a stream around Node's:
 * per request that cost more than a small push or enqueue itself, and the Request's abort signal goes to a
 * finalization registry, whose objects outlive young-generation collections.
 */
export const nodeBodyReader: BodyReader = (bindings, maxBytes, signal) => {
  const incoming = (bindings as { incoming?: unknown } | undefined)?.incoming;
  return isNodeRequest(incoming) ? nodeChunks(incoming, maxBytes, signal) : undefined;
};

function isNodeRequest(x: unknown): x is NodeRequest {
  const r = x as Partial<NodeRequest> | undefined;
  return (
    typeof r?.on === 'function' &&
    typeof r.off === 'function' &&
    typeof r.pause === 'function' &&
    Array.isArray(r.rawHeaders)
  );
}

/**
 * The body's chunks, `too_large` once they pass `maxBytes`, or `timed_out` once `signal` fires. Either way the
 * request is paused and the rest not read: the answer's `connection: close` makes Node close the socket.
 */
function nodeChunks(incoming: NodeRequest, maxBytes: number, signal?: AbortSignal): Promise<BodyRead> {
  if (incoming.rawBody instanceof Uint8Array)
    return Promise.resolve(incoming.rawBody.length > maxBytes ? 'too_large' : [incoming.rawBody]);
  if (incoming.readableEnded) return Promise.resolve([]);
  if (signal?.aborted) return Promise.resolve('timed_out');
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const settle = (error?: Error, result: BodyRead = 'too_large') => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      if (result !== chunks) incoming.pause();
      if (error) reject(error);
      else resolve(result);
    };
    const onData = (chunk: Uint8Array) => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      settle();
    };
    const onEnd = () => settle(undefined, chunks);
    const onError = (error: Error) => settle(error);
    const onAbort = () => settle(undefined, 'timed_out');
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
