// A run's own log lines (`ctx.log`) on their way to the engine: filtered by level and bounded per attempt.
import {
  MAX_LOG_FIELDS_CHARS,
  MAX_LOG_MESSAGE_CHARS,
  MAX_RUN_LOG_CHARS,
  MAX_RUN_LOG_LINES,
  type RunLogLevel,
} from '../protocol/schemas.ts';
import { LOG_LEVELS, type LogFields, type Logger, type LogLevel } from './log.ts';

/** One line as a `log` event carries it. */
export interface TaskLogLine {
  seq: number;
  level: RunLogLevel;
  message: string;
  fields?: LogFields;
}

export interface TaskLogLimits {
  /** Lines sent per attempt, the marker of dropped lines not counted. */
  lines: number;
  /** Characters sent per attempt: messages and fields as JSON. */
  chars: number;
  messageChars: number;
  fieldsChars: number;
}

export const TASK_LOG_LIMITS: TaskLogLimits = {
  lines: MAX_RUN_LOG_LINES,
  chars: MAX_RUN_LOG_CHARS,
  messageChars: MAX_LOG_MESSAGE_CHARS,
  fieldsChars: MAX_LOG_FIELDS_CHARS,
};

/**
 * The lines of one attempt. The lines sent are the first ones logged: once a line does not fit, every later line
 * is dropped too (a smaller one that would still fit included), so what the engine keeps has no holes. When the
 * attempt ends, one more line says how many were dropped.
 */
export class TaskLog {
  private readonly min: number;
  private sent = 0;
  private chars = 0;
  private dropped = 0;
  private open = true;

  constructor(
    private readonly send: (line: TaskLogLine) => void,
    level: LogLevel,
    private readonly limits: TaskLogLimits = TASK_LOG_LIMITS,
  ) {
    this.min = LOG_LEVELS.indexOf(level);
  }

  add(level: RunLogLevel, message: string, fields?: LogFields): void {
    if (!this.open || LOG_LEVELS.indexOf(level) < this.min) return;
    if (this.dropped > 0) {
      this.dropped++;
      return;
    }
    const line: TaskLogLine = { seq: this.sent + 1, level, message: cut(message, this.limits.messageChars) };
    let size = line.message.length;
    if (fields !== undefined) {
      const bounded = boundedFields(fields, this.limits.fieldsChars);
      line.fields = bounded.fields;
      size += bounded.chars;
    }
    if (this.sent >= this.limits.lines || this.chars + size > this.limits.chars) {
      this.dropped++;
      return;
    }
    this.sent++;
    this.chars += size;
    this.send(line);
  }

  /** The attempt ended: `report` false when nothing more may be said of it (stale). Later lines stay local. */
  close(report: boolean): void {
    if (!this.open) return;
    this.open = false;
    if (!report || this.dropped === 0) return;
    const message = `${this.dropped} ${this.dropped === 1 ? 'line' : 'lines'} dropped`;
    this.send({ seq: this.sent + 1, level: 'warn', message, fields: { dropped: this.dropped } });
  }
}

/** `local` as it was, with each line also handed to `forward`. */
export function forwardingLogger(local: Logger, forward: TaskLog): Logger {
  return {
    debug(message, fields) {
      local.debug(message, fields);
      forward.add('debug', message, fields);
    },
    info(message, fields) {
      local.info(message, fields);
      forward.add('info', message, fields);
    },
    warn(message, fields) {
      local.warn(message, fields);
      forward.add('warn', message, fields);
    },
    error(message, fields) {
      local.error(message, fields);
      forward.add('error', message, fields);
    },
  };
}

function cut(text: string, max: number): string {
  const s = String(text);
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** Fields that are JSON and short enough as it, or a note in their place; with their length as JSON. */
function boundedFields(fields: LogFields, max: number): { fields: LogFields; chars: number } {
  let json: string | undefined;
  let note: string;
  try {
    json = JSON.stringify(fields);
    note = `fields left out: ${json?.length ?? 0} characters as JSON, over ${max}`;
  } catch (error) {
    note = `fields left out: not JSON (${(error as Error).message})`;
  }
  // A copy as JSON has it: what was measured is what is sent, whatever the task changes in its object later.
  if (json !== undefined && json.length <= max)
    return { fields: JSON.parse(json) as LogFields, chars: json.length };
  const replaced = { omitted: cut(note, max - 20) };
  return { fields: replaced, chars: JSON.stringify(replaced).length };
}
