// A small levelled logger; lines look like a task-queue worker's ("[INFO]  pushworker -- ...").
import { RUN_LOG_LEVELS } from '../protocol/schemas.ts';

/** The levels of a task's lines, and `silent` for none. */
export const LOG_LEVELS = [...RUN_LOG_LEVELS, 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

type Sink = (line: string) => void;

export function createLogger(
  level: LogLevel = 'info',
  sink: Sink = (line) => console.error(line),
  base: LogFields = {},
): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const emit = (at: LogLevel) => (message: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(at) < min) return;
    const all = { ...base, ...fields };
    const tail = Object.entries(all)
      .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join('');
    sink(`[${at.toUpperCase()}]`.padEnd(8) + `pushworker -- ${message}${tail}`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export function childLogger(parent: Logger, fields: LogFields): Logger {
  // One child is made per run: methods are cheaper to create than named arrows once esbuild keeps names (tsx).
  const { debug, info, warn, error } = parent;
  return {
    debug(message, more) {
      debug(message, { ...fields, ...more });
    },
    info(message, more) {
      info(message, { ...fields, ...more });
    },
    warn(message, more) {
      warn(message, { ...fields, ...more });
    },
    error(message, more) {
      error(message, { ...fields, ...more });
    },
  };
}
