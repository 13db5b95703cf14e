// Key templates: a rate-limit or concurrency key computed from a run's input, written so the engine can read it.
import { z } from 'zod';

/**
 * A placeholder names a value of the run: `{input.tenant}`, `{input.user.id}`, `{input.items.0}` or
 * `{metadata.region}`. Path segments are letters, digits, `_` and `-`; array items are named by their index.
 */
const PLACEHOLDER = /\{(input|metadata)((?:\.[A-Za-z0-9_-]+)+)\}/g;

/** Whether every brace in the text belongs to a well-formed placeholder. */
function wellFormed(template: string): boolean {
  return !/[{}]/.test(template.replace(PLACEHOLDER, ''));
}

/**
 * A key, or a key template: literal text with placeholders the engine fills in from the input at enqueue, such as
 * `tenant:{input.tenantId}`. A key without braces is static.
 */
export const KeyTemplate = z.string().min(1).max(200).refine(wellFormed, {
  message: 'a key template uses {input.path} or {metadata.path} placeholders and no other braces',
});
export type KeyTemplate = z.infer<typeof KeyTemplate>;

/** What a placeholder may name: the run's input and its metadata. */
export interface KeySource {
  input: unknown;
  metadata?: Record<string, unknown> | null | undefined;
}

/**
 * The key the template names for a run, or the first placeholder that cannot be filled (a path the run does not
 * have, or a value that is not a string, number or boolean).
 */
export function resolveKey(template: string, source: KeySource): { key: string } | { missing: string } {
  let missing: string | undefined;
  const key = template.replace(PLACEHOLDER, (placeholder, root: string, path: string) => {
    let value: unknown = root === 'input' ? source.input : (source.metadata ?? undefined);
    for (const segment of path.slice(1).split('.')) {
      value =
        value !== null && typeof value === 'object' && Object.hasOwn(value, segment)
          ? (value as Record<string, unknown>)[segment]
          : undefined;
    }
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      return String(value);
    }
    missing ??= placeholder;
    return '';
  });
  return missing === undefined ? { key } : { missing };
}
