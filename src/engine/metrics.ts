// Engine counters and histograms, rendered with store gauges in the Prometheus text format.

type Labels = Record<string, string>;

const BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000];

function key(labels: Labels): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
    .join(',');
}

export class Metrics {
  private counters = new Map<string, Map<string, number>>();
  private help = new Map<string, string>();
  private histogram = { buckets: BUCKETS_MS.map(() => 0), sum: 0, count: 0 };

  count(name: string, help: string, labels: Labels = {}, by = 1): void {
    this.help.set(name, help);
    let series = this.counters.get(name);
    if (!series) {
      series = new Map();
      this.counters.set(name, series);
    }
    const k = key(labels);
    series.set(k, (series.get(k) ?? 0) + by);
  }

  /** Enqueue-to-started latency of a run. */
  observeDispatch(ms: number): void {
    this.histogram.sum += ms;
    this.histogram.count++;
    BUCKETS_MS.forEach((le, i) => {
      if (ms <= le) this.histogram.buckets[i]!++;
    });
  }

  render(gauges: { name: string; help: string; series: [Labels, number][] }[]): string {
    const lines: string[] = [];
    for (const [name, series] of this.counters) {
      lines.push(`# HELP ${name} ${this.help.get(name)}`, `# TYPE ${name} counter`);
      for (const [k, v] of series) lines.push(`${name}${k ? `{${k}}` : ''} ${v}`);
    }
    const h = 'pushworker_dispatch_latency_ms';
    lines.push(`# HELP ${h} Time from enqueue to the started event.`, `# TYPE ${h} histogram`);
    BUCKETS_MS.forEach((le, i) => {
      lines.push(`${h}_bucket{le="${le}"} ${this.histogram.buckets[i]}`);
    });
    lines.push(`${h}_bucket{le="+Inf"} ${this.histogram.count}`);
    lines.push(`${h}_sum ${this.histogram.sum}`, `${h}_count ${this.histogram.count}`);
    for (const gauge of gauges) {
      lines.push(`# HELP ${gauge.name} ${gauge.help}`, `# TYPE ${gauge.name} gauge`);
      for (const [labels, v] of gauge.series) {
        const k = key(labels);
        lines.push(`${gauge.name}${k ? `{${k}}` : ''} ${v}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }
}
