// Engine counters and histograms, rendered with store gauges in the Prometheus text format.
import { exposition, familyHeader, labelSet, type MetricLabels, sample } from '../protocol/prometheus.ts';

/** Upper bounds, in seconds, of every histogram's buckets: from a claim round's few ms to a minute. */
export const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface HistogramSeries {
  /** Observations at or under each bound of SECONDS_BUCKETS (not yet cumulative). */
  buckets: number[];
  sum: number;
  count: number;
}

export class Metrics {
  private counters = new Map<string, Map<string, number>>();
  private histograms = new Map<string, Map<string, HistogramSeries>>();
  private help = new Map<string, string>();

  count(name: string, help: string, labels: MetricLabels = {}, by = 1): void {
    this.help.set(name, help);
    const series = seriesOf(this.counters, name);
    const k = labelSet(labels);
    series.set(k, (series.get(k) ?? 0) + by);
  }

  /** One observation of `seconds` in the histogram `name`; labels must be few (a task name, not a run id). */
  observe(name: string, help: string, labels: MetricLabels, seconds: number): void {
    this.help.set(name, help);
    const series = seriesOf(this.histograms, name);
    const k = labelSet(labels);
    let h = series.get(k);
    if (!h) {
      h = { buckets: SECONDS_BUCKETS.map(() => 0), sum: 0, count: 0 };
      series.set(k, h);
    }
    const i = SECONDS_BUCKETS.findIndex((le) => seconds <= le);
    if (i >= 0) h.buckets[i]!++;
    h.sum += seconds;
    h.count++;
  }

  /** A run was assigned `ms` after it came due (its `available_at`: enqueue, delay's end, back-off's end). */
  dispatched(task: string, ms: number): void {
    this.observe(
      'pushworker_dispatch_latency_seconds',
      'Time from a run coming due to its assignment to a worker, per task.',
      { task },
      ms / 1000,
    );
  }

  /** A run ended through its worker's events `ms` after its last attempt started. */
  ranFor(task: string, ms: number): void {
    this.observe(
      'pushworker_run_duration_seconds',
      "Time from the start of a run's last attempt to its end, per task, for runs their workers ended.",
      { task },
      ms / 1000,
    );
  }

  render(gauges: { name: string; help: string; series: [MetricLabels, number][] }[]): string {
    const lines: string[] = [];
    for (const [name, series] of this.counters) {
      lines.push(...familyHeader(name, this.help.get(name)!, 'counter'));
      for (const [k, v] of series) lines.push(sample(name, k, v));
    }
    for (const [name, series] of this.histograms) {
      lines.push(...familyHeader(name, this.help.get(name)!, 'histogram'));
      for (const [k, h] of series) lines.push(...histogramLines(name, k, h));
    }
    for (const gauge of gauges) {
      lines.push(...familyHeader(gauge.name, gauge.help, 'gauge'));
      for (const [labels, v] of gauge.series) lines.push(sample(gauge.name, labelSet(labels), v));
    }
    return exposition(lines);
  }
}

function seriesOf<T>(families: Map<string, Map<string, T>>, name: string): Map<string, T> {
  let series = families.get(name);
  if (!series) {
    series = new Map();
    families.set(name, series);
  }
  return series;
}

/** Cumulative `_bucket` lines (`le` after the series' own labels), then `+Inf`, `_sum` and `_count`. */
function histogramLines(name: string, labels: string, h: HistogramSeries): string[] {
  const withLe = (le: string) => (labels ? `${labels},` : '') + labelSet({ le });
  const lines: string[] = [];
  let below = 0;
  SECONDS_BUCKETS.forEach((le, i) => {
    below += h.buckets[i]!;
    lines.push(sample(`${name}_bucket`, withLe(String(le)), below));
  });
  lines.push(sample(`${name}_bucket`, withLe('+Inf'), h.count));
  lines.push(sample(`${name}_sum`, labels, h.sum), sample(`${name}_count`, labels, h.count));
  return lines;
}
