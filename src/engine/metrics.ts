// Engine counters and histograms, rendered with store gauges in the Prometheus text format.
import { exposition, familyHeader, labelSet, type MetricLabels, sample } from '../protocol/prometheus.ts';

const BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000];

export class Metrics {
  private counters = new Map<string, Map<string, number>>();
  private help = new Map<string, string>();
  private histogram = { buckets: BUCKETS_MS.map(() => 0), sum: 0, count: 0 };

  count(name: string, help: string, labels: MetricLabels = {}, by = 1): void {
    this.help.set(name, help);
    let series = this.counters.get(name);
    if (!series) {
      series = new Map();
      this.counters.set(name, series);
    }
    const k = labelSet(labels);
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

  render(gauges: { name: string; help: string; series: [MetricLabels, number][] }[]): string {
    const lines: string[] = [];
    for (const [name, series] of this.counters) {
      lines.push(...familyHeader(name, this.help.get(name)!, 'counter'));
      for (const [k, v] of series) lines.push(sample(name, k, v));
    }
    const h = 'pushworker_dispatch_latency_ms';
    lines.push(...familyHeader(h, 'Time from enqueue to the started event.', 'histogram'));
    BUCKETS_MS.forEach((le, i) => {
      lines.push(sample(`${h}_bucket`, labelSet({ le: String(le) }), this.histogram.buckets[i]!));
    });
    lines.push(sample(`${h}_bucket`, labelSet({ le: '+Inf' }), this.histogram.count));
    lines.push(sample(`${h}_sum`, '', this.histogram.sum), sample(`${h}_count`, '', this.histogram.count));
    for (const gauge of gauges) {
      lines.push(...familyHeader(gauge.name, gauge.help, 'gauge'));
      for (const [labels, v] of gauge.series) lines.push(sample(gauge.name, labelSet(labels), v));
    }
    return exposition(lines);
  }
}
