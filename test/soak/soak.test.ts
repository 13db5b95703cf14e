import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../soak/run.ts', import.meta.url));

function runSoak(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('soak, short profile', () => {
  it('ends every run and workflow run exactly once through SIGKILLed, drained and restarted processes, within slots, ticks, rate limits and durable steps', async () => {
    const { code, stdout, stderr } = await runSoak(['--profile', 'short']);
    const summary = stdout.split('\n').find((l) => l.startsWith('soak profile=short')) ?? '';
    console.log(summary);
    expect(summary, stderr.slice(-4000)).toMatch(/ violations=0$/);
    const field = (name: string) => Number(new RegExp(` ${name}=(\\d+)`).exec(summary)?.[1]);
    // The load, the rate-limited runs among it, and a run a tick of the schedule.
    expect(field('rate_limited_runs')).toBe(200);
    expect(field('runs')).toBe(1500 + 200 + field('ticks_fired'));
    expect(field('terminal')).toBe(field('runs'));
    expect(field('recorded_once')).toBe(field('runs'));
    expect(field('worker_kills')).toBeGreaterThan(0);
    expect(field('graceful_stops')).toBe(1);
    expect(field('engine_restarts')).toBe(1);
    // A tick every two seconds for the whole soak; the engine stays down for several, of which the latest runs.
    expect(field('ticks_fired')).toBeGreaterThan(10);
    expect(field('ticks_skipped')).toBeGreaterThan(0);
    // The limits held, and bound: some window of each key was full.
    const windows = /rate_window_max=(\S+)/.exec(summary)?.[1]?.split(',') ?? [];
    expect(windows.map((w) => w.replace(/:\d+\/\d+$/, ''))).toEqual([
      'soak-limited',
      'soak-tenant:t0',
      'soak-tenant:t1',
      'soak-tenant:t2',
    ]);
    for (const w of windows) {
      const [, max, limit] = /:(\d+)\/(\d+)$/.exec(w)!.map(Number);
      expect(max, w).toBeLessThanOrEqual(limit!);
    }
    // The durable workflow runs: each of four tasks and a child, every one completed; each sleep, wait and child
    // a suspension; some waits woken by their event, the others timed out.
    expect(field('workflow_runs')).toBe(36);
    expect(field('workflows_completed')).toBe(36);
    expect(field('durable_runs')).toBe(4 * 36);
    expect(field('child_runs')).toBe(36);
    expect(field('step_executions')).toBeGreaterThanOrEqual(5 * 36);
    expect(field('suspensions')).toBeGreaterThanOrEqual(3 * 36);
    expect(field('waits_woken')).toBeGreaterThan(0);
    // A wake published as its wait timed out (the engine was down meanwhile) finds no wait.
    expect(field('waits_woken')).toBeLessThanOrEqual(field('wakes_published'));
    expect(field('wakes_published')).toBeLessThanOrEqual(field('wakes_planned'));
    expect(field('waits_timed_out')).toBeGreaterThan(0);
    expect(field('waits_woken') + field('waits_timed_out')).toBe(36);
    expect(code).toBe(0);
  }, 240_000);
});
