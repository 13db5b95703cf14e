// The Prometheus text exposition format (version 0.0.4) that the engine and the worker serve at /metrics.

export type MetricLabels = Record<string, string>;
export type MetricType = 'counter' | 'gauge' | 'histogram';

/** A label value as the format writes it in double quotes: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `a="x",b="y"`: labels as they sit between a sample's braces, empty for none; also keys a series. */
export function labelSet(labels: MetricLabels = {}): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
    .join(',');
}

/** The `# HELP` and `# TYPE` lines that open a family; help text escapes backslash and newline. */
export function familyHeader(name: string, help: string, type: MetricType): string[] {
  return [`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`];
}

/** One sample line, with braces only when there are labels; `labels` is a `labelSet`. */
export function sample(name: string, labels: string, value: number): string {
  return `${name}${labels ? `{${labels}}` : ''} ${value}`;
}

/** A whole exposition: one line each, and the final newline the format wants. */
export function exposition(lines: string[]): string {
  return `${lines.join('\n')}\n`;
}
