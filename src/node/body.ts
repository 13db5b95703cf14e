// Node's fast path for request bodies: read from the `IncomingMessage` that @hono/node-server puts in the bindings.
import type { IncomingMessage } from 'node:http';
import type { BodyReader } from '../http/body.ts';

/** Node's request, with the raw body some frameworks (a raw body parser mounted before us) leave on it. */
type NodeRequest = IncomingMessage & { rawBody?: unknown };

/**
 * Served by @hono/node-server, whose bindings carry Node's own request as `incoming`, the body is read from that
 * request. Reading it through the Web `Request` makes node-server build that Request and a stream around Node's:
 * per request that cost more than a small push or enqueue itself, and the Request's abort signal goes to a
 * finalization registry, whose objects outlive young-generation collections.
 */
export const nodeBodyReader: BodyReader = (bindings, maxBytes) => {
  const incoming = (bindings as { incoming?: unknown } | undefined)?.incoming;
  return isNodeRequest(incoming) ? nodeChunks(incoming, maxBytes) : undefined;
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

/** The body's chunks, or `too_large` once they pass `maxBytes` (the rest is not read). */
function nodeChunks(incoming: NodeRequest, maxBytes: number): Promise<Uint8Array[] | 'too_large'> {
  if (incoming.rawBody instanceof Uint8Array)
    return Promise.resolve(incoming.rawBody.length > maxBytes ? 'too_large' : [incoming.rawBody]);
  if (incoming.readableEnded) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const settle = (error?: Error, result: Uint8Array[] | 'too_large' = 'too_large') => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      if (error) reject(error);
      else resolve(result);
    };
    const onData = (chunk: Uint8Array) => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      incoming.pause();
      settle();
    };
    const onEnd = () => settle(undefined, chunks);
    const onError = (error: Error) => settle(error);
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
  });
}
