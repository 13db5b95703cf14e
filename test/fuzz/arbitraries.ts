// Hostile input for the fuzzers: strings with quotes, SQL and unicode, wrong types, huge and deeply nested values.
import fc from 'fast-check';

/** How many cases each route family runs: small by default, 10,000 in the full profile. */
export const FUZZ_RUNS = Number(process.env.PUSHWORKER_FUZZ_RUNS ?? 200);
/** A test's time budget for `cases` requests, generous enough for a slow CI machine. */
export const budgetMs = (cases = FUZZ_RUNS) => Math.max(60_000, cases * 40);

const nasty = fc.constantFrom(
  "'; DROP TABLE pw_runs; --",
  '" OR 1=1 --',
  "Robert'); DELETE FROM pw_tokens; --",
  '\\',
  '%00',
  '%',
  '%ZZ',
  '../../etc/passwd',
  '$' + '{process.env}',
  '<script>alert(1)</script>',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  '\u202e',
  '\ufeff',
  '😀',
  'ǅ',
  '',
  ' ',
  '\r\n',
  'null',
  '__proto__',
  'constructor',
  'echo',
  'probe',
);

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: nasty },
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 300 }),
  fc.tuple(nasty, fc.string({ maxLength: 10 }), nasty).map(([a, b, c]) => a + b + c),
);

export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 1e308, -1e308, 2 ** 31, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, 1e-300, 0.5),
);

/** Any JSON-ish value with hostile leaves. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  hostileNumber,
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 3 }),
  fc.anything({ maxDepth: 2, withObjectString: true, withNullPrototype: true }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 4 }),
  fc.array(hostileString, { maxLength: 4 }),
);

/** A value nested `depth` deep (arrays or objects). */
export const deep = fc
  .tuple(fc.integer({ min: 100, max: 5_000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth),
  );

/** A JSON object where each listed field is often the right shape and often not; fields may be missing. */
export function shaped(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const entries = Object.fromEntries(
    Object.entries(fields).map(([k, good]) => [k, fc.oneof({ weight: 3, arbitrary: good }, hostileValue)]),
  );
  return fc.record(entries, { requiredKeys: [] }) as fc.Arbitrary<Record<string, unknown>>;
}

/** A raw request body: JSON of a shaped value, hostile JSON, deep nesting, huge, not JSON, or not UTF-8. */
export function bodyOf(shape: fc.Arbitrary<unknown>): fc.Arbitrary<string | Uint8Array> {
  return fc.oneof(
    { weight: 6, arbitrary: shape.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 2, arbitrary: hostileValue.map((v) => JSON.stringify(v) ?? 'undefined') },
    { weight: 1, arbitrary: shape.map((v) => JSON.stringify(v).slice(0, -1)) },
    { weight: 1, arbitrary: deep },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 100_000, max: 1_500_000 })
        .map((n) => JSON.stringify({ padding: 'x'.repeat(n) })),
    },
  );
}

export const pathSegment: fc.Arbitrary<string> = fc.oneof(
  hostileString.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '_'))),
  fc.constantFrom('%00', '%ZZ', '%', '..', '%2e%2e', '%2F', 'x%20y', '%E0%A4%A'),
);
