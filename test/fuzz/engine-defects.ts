// Input classes that currently make the engine answer 500 (reported, pinned by engine-regressions.test.ts).
// The engine fuzzer tallies a 5xx under one of these instead of failing; any other 5xx fails it.

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const INT32_MAX = 2 ** 31 - 1;

export type EngineDefect = 'nul_character' | 'lone_surrogate' | 'deep_nesting' | 'integer_overflow';

function depthOf(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '[' || ch === '{') max = Math.max(max, ++depth);
    else if (ch === ']' || ch === '}') depth--;
  }
  return max;
}

function walk(value: unknown, found: Set<EngineDefect>): void {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (v.includes('\u0000')) found.add('nul_character');
      if (LONE_SURROGATE.test(v)) found.add('lone_surrogate');
    } else if (typeof v === 'number') {
      if (Math.abs(v) > INT32_MAX) found.add('integer_overflow');
    } else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) stack.push(k, child);
    }
  }
}

/** The known defect classes a request falls in (empty when none). */
export function engineDefectsOf(path: string, body: string | Uint8Array | undefined): Set<EngineDefect> {
  const found = new Set<EngineDefect>();
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {}
  walk(decoded, found);
  if (/%00/i.test(path)) found.add('nul_character');
  const text = body === undefined ? '' : typeof body === 'string' ? body : new TextDecoder().decode(body);
  if (depthOf(text) > 1_000) found.add('deep_nesting');
  else {
    try {
      walk(JSON.parse(text), found);
    } catch {}
  }
  return found;
}
