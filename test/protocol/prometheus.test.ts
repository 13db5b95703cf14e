import { describe, expect, it } from 'vitest';
import { Metrics as EngineMetrics } from '../../src/engine/metrics.ts';
import { escapeLabelValue } from '../../src/protocol/prometheus.ts';
import { Metrics as WorkerMetrics } from '../../src/worker/metrics.ts';

const awkward = 'a\\b "c"\nd';
const escaped = 'a\\\\b \\"c\\"\\nd';

describe('Prometheus text exposition', () => {
  it('escapes backslash, double quote and newline in label values', () => {
    expect(escapeLabelValue(awkward)).toBe(escaped);
    expect(escapeLabelValue('plain')).toBe('plain');
  });

  it('renders the same label value the same way from the engine and the worker', () => {
    const engine = new EngineMetrics();
    engine.count('t_total', 'T.', { task: awkward });
    const worker = new WorkerMetrics();
    worker.counter('t_total', 'T.').inc({ task: awkward });
    const line = `t_total{task="${escaped}"} 1`;
    expect(engine.render([]).split('\n')).toContain(line);
    expect(worker.render().split('\n')).toContain(line);
  });

  it('renders a histogram per label set with cumulative buckets, le last, +Inf, sum and count', () => {
    const engine = new EngineMetrics();
    for (const seconds of [0.003, 0.2, 0.2, 7, 600])
      engine.observe('h_seconds', 'H.', { task: 'a' }, seconds);
    engine.observe('h_seconds', 'H.', { task: 'b' }, 1);
    const lines = engine.render([]).split('\n');
    expect(lines).toContain('# TYPE h_seconds histogram');
    const bucket = (task: string, le: string) =>
      Number(lines.find((l) => l.startsWith(`h_seconds_bucket{task="${task}",le="${le}"} `))?.split(' ')[1]);
    expect([bucket('a', '0.005'), bucket('a', '0.1'), bucket('a', '0.25'), bucket('a', '5')]).toEqual([
      1, 1, 3, 3,
    ]);
    expect([bucket('a', '10'), bucket('a', '60'), bucket('a', '+Inf')]).toEqual([4, 4, 5]);
    expect(lines).toContain('h_seconds_count{task="a"} 5');
    expect(lines).toContain('h_seconds_sum{task="a"} 607.403');
    expect([bucket('b', '0.5'), bucket('b', '1'), bucket('b', '+Inf')]).toEqual([0, 1, 1]);
  });
});
