// What every fuzzed answer must satisfy: no 5xx, and every refusal a documented error code with nothing secret in it.
import { errorStatus } from '../../src/protocol/errors.ts';

export interface Answer {
  status: number;
  text: string;
  json: any;
}

export async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json };
}

/** Returns a description of what is wrong with `answer`, or undefined when it is well-formed. */
export function malformed(answer: Answer, secrets: string[] = [], method = 'POST'): string | undefined {
  if (answer.status >= 500 && answer.status !== 503)
    return `status ${answer.status}: ${answer.text.slice(0, 300)}`;
  for (const s of secrets) if (s && answer.text.includes(s)) return 'a secret appears in the answer';
  if (answer.status < 400 || method === 'HEAD') return undefined;
  const code = answer.json?.error?.code;
  if (typeof code !== 'string' || !(code in errorStatus))
    return `status ${answer.status} without a documented code: ${answer.text.slice(0, 300)}`;
  if (errorStatus[code as keyof typeof errorStatus] !== answer.status)
    return `code ${code} with status ${answer.status}`;
  return undefined;
}
