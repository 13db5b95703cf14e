// Raw request bytes to JSON, strictly UTF-8; anything else is an `invalid_request`.
import { PushworkerError } from '../protocol/errors.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });

export function parseJsonBody(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    throw new PushworkerError('invalid_request', 'the body is not valid JSON');
  }
}
