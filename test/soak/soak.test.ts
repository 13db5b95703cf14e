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
  it('ends every run exactly once through SIGKILLed, drained and restarted processes, within slots', async () => {
    const { code, stdout, stderr } = await runSoak(['--profile', 'short']);
    const summary = stdout.split('\n').find((l) => l.startsWith('soak profile=short')) ?? '';
    console.log(summary);
    expect(summary, stderr.slice(-4000)).toMatch(/ violations=0$/);
    const field = (name: string) => Number(new RegExp(` ${name}=(\\d+)`).exec(summary)?.[1]);
    expect(field('runs')).toBe(1500);
    expect(field('terminal')).toBe(1500);
    expect(field('recorded_once')).toBe(1500);
    expect(field('worker_kills')).toBeGreaterThan(0);
    expect(field('graceful_stops')).toBe(1);
    expect(field('engine_restarts')).toBe(1);
    expect(code).toBe(0);
  }, 240_000);
});
