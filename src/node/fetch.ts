// undici's request under fetch's signature, for a worker's calls to the engine on Node.
import type { Dispatcher } from 'undici';
import { MAX_ENGINE_ANSWER_BYTES } from '../http/answer.ts';
import { concatBytes } from '../http/body.ts';
import { lazyPeer } from '../optional-peer.ts';

const loadUndici = lazyPeer('undici', 'nodeFetch', () => import('undici'));

/**
 * A `fetch` for a worker's calls to the engine on Node, which the Node adapter gives every worker it serves. It is
 * undici's `request` under fetch's signature, for what those calls send (a method, headers, a string body, a
 * signal); it follows no redirects. Node's own fetch hands each response to a finalization registry, and such
 * objects outlive young-generation collections: at hundreds of event posts a second the worker's old space
 * filled every few seconds, and each full collection paused it for 10-20 ms.
 *
 * It reads at most `MAX_ENGINE_ANSWER_BYTES` and one chunk more of an answer (the rest is left unread and the
 * connection closed), so that the readers after it, which stop at that limit, see an answer over it as such.
 */
export const nodeFetch: typeof fetch = async (input, init = {}) => {
  const { request } = await loadUndici();
  const given = input instanceof Request ? input : undefined;
  if (given?.body) throw new TypeError('nodeFetch sends a body given in init, not in a Request');
  const response = await request(given ? given.url : String(input), {
    method: (init.method ?? given?.method ?? 'GET') as Dispatcher.HttpMethod,
    headers: (init.headers ?? given?.headers) as Record<string, string> | undefined,
    body: init.body as string | Uint8Array | null | undefined,
    signal: init.signal ?? undefined,
  });
  const bytes = await boundedBytes(response.body, MAX_ENGINE_ANSWER_BYTES);
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    for (const v of [value ?? []].flat()) headers.append(name, v);
  }
  const empty = response.statusCode === 204 || response.statusCode === 304;
  return new Response(empty ? null : bytes, { status: response.statusCode, headers });
};

/** The body's bytes until they pass `maxBytes`; a body longer than that is destroyed after the chunk that passed. */
async function boundedBytes(
  body: Dispatcher.ResponseData['body'],
  maxBytes: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    chunks.push(chunk);
    size += chunk.byteLength;
    if (size > maxBytes) {
      body.destroy();
      break;
    }
  }
  // undici's chunks are Buffers over ArrayBuffers, never shared ones
  return concatBytes(chunks) as Uint8Array<ArrayBuffer>;
}
