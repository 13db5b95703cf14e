// Counters and gauges rendered in the Prometheus text exposition format.

type Labels = Record<string, string>;

export interface Counter {
  inc(labels?: Labels, by?: number): void;
  get(labels?: Labels): number;
  /** The counter for fixed labels, whose key is worked out once: for counting on a hot path. */
  with(labels: Labels): { inc(by?: number): void };
}

interface Family {
  help: string;
  type: 'counter' | 'gauge';
  values: () => Iterable<[string, number]>;
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labelKey = (labels: Labels = {}) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',');

export class Metrics {
  private readonly families = new Map<string, Family>();

  counter(name: string, help: string): Counter {
    const values = new Map<string, number>();
    this.families.set(name, { help, type: 'counter', values: () => values.entries() });
    return {
      inc: (labels, by = 1) => {
        const key = labelKey(labels);
        values.set(key, (values.get(key) ?? 0) + by);
      },
      get: (labels) => values.get(labelKey(labels)) ?? 0,
      with: (labels) => {
        const key = labelKey(labels);
        return {
          inc: (by = 1) => {
            values.set(key, (values.get(key) ?? 0) + by);
          },
        };
      },
    };
  }

  gauge(name: string, help: string, read: () => number): void {
    this.families.set(name, { help, type: 'gauge', values: () => [['', read()]] });
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, family] of this.families) {
      lines.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} ${family.type}`);
      for (const [labels, value] of family.values())
        lines.push(`${name}${labels ? `{${labels}}` : ''} ${value}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
