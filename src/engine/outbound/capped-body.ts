// Reading an answer body with a byte cap: the stream is destroyed as soon as the cap is passed.
import type { Readable } from 'node:stream';
import { AnswerTooLarge } from './failures.ts';

/**
 * The body's bytes, at most `maxBytes`. A larger body is not read past the chunk that passes the cap: the
 * stream is destroyed, which closes its connection, and `AnswerTooLarge` is thrown.
 */
export async function readCapped(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      throw new AnswerTooLarge(maxBytes);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
