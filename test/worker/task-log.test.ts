// A task's lines for the engine: filtered by level, the first ones kept within the per-attempt bounds, then one
// line counting the rest; over-long messages cut and fields left out, and nothing sent once the attempt ended.
import { describe, expect, it } from 'vitest';
import { MAX_RUN_LOG_LINES } from '../../src/protocol/schemas.ts';
import type { LogLevel } from '../../src/worker/log.ts';
import { TASK_LOG_LIMITS, TaskLog, type TaskLogLine } from '../../src/worker/task-log.ts';

function taskLog(level: LogLevel = 'info', limits = TASK_LOG_LIMITS) {
  const sent: TaskLogLine[] = [];
  return { log: new TaskLog((line) => sent.push(line), level, limits), sent };
}

describe('task log lines for the engine', () => {
  it('sends the lines at the level and above, numbered in order', () => {
    const { log, sent } = taskLog('info');
    log.add('debug', 'quiet');
    log.add('info', 'one', { n: 1 });
    log.add('warn', 'two');
    log.add('error', 'three');
    log.close(true);
    expect(sent).toEqual([
      { seq: 1, level: 'info', message: 'one', fields: { n: 1 } },
      { seq: 2, level: 'warn', message: 'two' },
      { seq: 3, level: 'error', message: 'three' },
    ]);
  });

  it('sends the first 200 lines of 1000, then one line counting the 800 dropped', () => {
    const { log, sent } = taskLog();
    for (let i = 0; i < 1000; i++) log.add('info', `line ${i}`);
    expect(sent).toHaveLength(MAX_RUN_LOG_LINES);
    expect(sent.at(-1)).toMatchObject({ seq: 200, message: 'line 199' });
    log.close(true);
    expect(sent).toHaveLength(MAX_RUN_LOG_LINES + 1);
    expect(sent.at(-1)).toEqual({
      seq: 201,
      level: 'warn',
      message: '800 lines dropped',
      fields: { dropped: 800 },
    });
  });

  it('stops at the characters per attempt, and keeps what follows a dropped line out too', () => {
    const { log, sent } = taskLog('info', { ...TASK_LOG_LIMITS, chars: 10 });
    log.add('info', '1234');
    log.add('info', '1234', { a: 1 }); // 4 + 7 characters: over
    log.add('info', '1');
    log.close(true);
    expect(sent.map((l) => l.message)).toEqual(['1234', '2 lines dropped']);
  });

  it('cuts a long message, and leaves out fields too long or not JSON', () => {
    const { log, sent } = taskLog();
    log.add('info', 'x'.repeat(5_000), { big: 'y'.repeat(5_000) });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    log.add('info', 'circular', circular);
    log.add('info', 'at', { when: new Date(0) });
    expect(sent[0]!.message).toHaveLength(TASK_LOG_LIMITS.messageChars);
    expect(sent[0]!.message.endsWith('…')).toBe(true);
    expect(sent[0]!.fields).toEqual({
      omitted: expect.stringMatching(/^fields left out: \d+ characters as JSON/),
    });
    expect(sent[1]!.fields).toEqual({ omitted: expect.stringMatching(/^fields left out: not JSON/) });
    expect(sent[2]!.fields).toEqual({ when: '1970-01-01T00:00:00.000Z' });
  });

  it('sends nothing once the attempt ended, and no count for a stale attempt', () => {
    const ended = taskLog('info', { ...TASK_LOG_LIMITS, lines: 1 });
    ended.log.add('info', 'kept');
    ended.log.add('info', 'dropped');
    ended.log.close(false);
    ended.log.add('info', 'after');
    ended.log.close(true);
    expect(ended.sent.map((l) => l.message)).toEqual(['kept']);

    const silent = taskLog('silent');
    silent.log.add('error', 'local only');
    expect(silent.sent).toEqual([]);
  });
});
