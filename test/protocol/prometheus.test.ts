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
});
