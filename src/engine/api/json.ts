// Request JSON the store can hold: bounded nesting, no U+0000 and no unpaired surrogates (jsonb refuses both).
import { PushworkerError } from '../../protocol/errors.ts';

export const MAX_JSON_DEPTH = 128;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Parses request text, refusing what Postgres text or jsonb columns cannot store, with `invalid_request`. */
export function parseStorableJson(text: string): unknown {
  if (nestingOf(text) > MAX_JSON_DEPTH) {
    throw new PushworkerError('invalid_request', `the body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PushworkerError('invalid_request', 'the request body is not JSON');
  }
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string' && !isStorable(v)) {
      throw new PushworkerError('invalid_request', 'the body holds a NUL character or an unpaired surrogate');
    } else if (v && typeof v === 'object') for (const [k, child] of Object.entries(v)) stack.push(k, child);
  }
  return value;
}

export function isStorable(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

// Counted on the text, before parsing, so that no step recurses over a hostile depth.
function nestingOf(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92) i++;
      else if (ch === 34) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 91 || ch === 123) max = Math.max(max, ++depth);
    else if (ch === 93 || ch === 125) depth--;
  }
  return max;
}
