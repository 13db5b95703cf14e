// Answers from the engine, read within a size limit: a worker or a client buffers no more than it allows.
import { concatBytes, webChunks } from './body.ts';

/** The most a worker reads of an engine's answer (a registration, an events post): the engine's own body limit. */
export const MAX_ENGINE_ANSWER_BYTES = 4 * 1024 * 1024;

/** The answer's bytes, or undefined once they pass `maxBytes` (the rest is left unread). */
export async function readAnswerBytes(response: Response, maxBytes: number): Promise<Uint8Array | undefined> {
  const read = await webChunks(response.body, maxBytes, undefined);
  if (Array.isArray(read)) return concatBytes(read);
  await response.body?.cancel().catch(() => {});
  return undefined;
}

/** The bytes as JSON, or undefined when they are not JSON. */
export function jsonOf(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

/** The answer's JSON, or undefined when it is larger than `maxBytes` or not JSON. */
export async function readJsonAnswer(
  response: Response,
  maxBytes = MAX_ENGINE_ANSWER_BYTES,
): Promise<unknown> {
  const bytes = await readAnswerBytes(response, maxBytes);
  return bytes && jsonOf(bytes);
}

/** What an engine's error answer says (`{ error: { code, message } }`), for a log line; the status otherwise. */
export function answerProblem(status: number, payload: unknown): string {
  const error = (payload as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const said = typeof error?.message === 'string' ? error.message.slice(0, 500) : undefined;
  const code = typeof error?.code === 'string' ? error.code.slice(0, 100) : undefined;
  return `the engine answered ${status}${code ? ` ${code}` : ''}${said ? `: ${said}` : ''}`;
}
