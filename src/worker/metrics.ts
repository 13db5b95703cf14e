// Counters and gauges of one worker, rendered in the Prometheus text exposition format.
import { exposition, familyHeader, labelSet, type MetricLabels, sample } from '../protocol/prometheus.ts';

export interface Counter {
  inc(labels?: MetricLabels, by?: number): void;
  get(labels?: MetricLabels): number;
  /** The counter for fixed labels, whose key is worked out once: for counting on a hot path. */
  with(labels: MetricLabels): { inc(by?: number): void };
}

interface Family {
  help: string;
  type: 'counter' | 'gauge';
  values: () => Iterable<[string, number]>;
}

export class Metrics {
  private readonly families = new Map<string, Family>();

  counter(name: string, help: string): Counter {
    const values = new Map<string, number>();
    this.families.set(name, { help, type: 'counter', values: () => values.entries() });
    return {
      inc: (labels, by = 1) => {
        const key = labelSet(labels);
        values.set(key, (values.get(key) ?? 0) + by);
      },
      get: (labels) => values.get(labelSet(labels)) ?? 0,
      with: (labels) => {
        const key = labelSet(labels);
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
      lines.push(...familyHeader(name, family.help, family.type));
      for (const [labels, value] of family.values()) lines.push(sample(name, labels, value));
    }
    return exposition(lines);
  }
}
