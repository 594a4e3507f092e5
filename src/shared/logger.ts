/**
 * One logger factory for both processes (DESIGN §7). tslog formats, but it never writes to the
 * console itself (`type: 'hidden'`): each process hands it a `write(line)` — the server's bounded
 * stdout writer, the launcher's log sink — so output ordering and backpressure stay ours.
 * Call-site capture is off: it costs a stack trace per call and the messages say where they are from.
 */
import { Logger } from 'tslog';
import type { LogLevel } from './log-levels.ts';

export type LogFormat = 'text' | 'json';
export type AppLogger = Logger<Record<string, unknown>>;

const tslogLevel: Record<LogLevel, number> = { trace: 1, debug: 2, info: 3, warn: 4, error: 5, fatal: 6 };

export interface LoggerOptions {
  name: string;
  level: LogLevel;
  format: LogFormat;
  write(line: string): void;
}

export function createLogger(options: LoggerOptions): AppLogger {
  const logger = new Logger<Record<string, unknown>>({
    type: 'hidden',
    name: options.name,
    minLevel: tslogLevel[options.level],
    stack: { capture: 'off' },
    pretty: {
      template: '{{yyyy}}-{{mm}}-{{dd}}T{{hh}}:{{MM}}:{{ss}}.{{ms}}Z {{logLevelName}} {{name}} ',
      style: false,
      // One event per line: log files are read with grep and rotated by line.
      inspectOptions: { breakLength: Infinity, compact: true },
    },
  });
  logger.attachTransport({ format: options.format === 'json' ? 'json' : 'pretty', write: (_record, line) => options.write(line) });
  return logger;
}

export function setLogLevel(logger: AppLogger, level: LogLevel): void {
  logger.setMinLevel(tslogLevel[level]);
}

export function isLevelEnabled(configured: LogLevel, level: LogLevel): boolean {
  return tslogLevel[level] >= tslogLevel[configured];
}

/** The time prefix used by the text format, for lines written without tslog (the access log). */
export function textTimestamp(now: Date = new Date()): string {
  return now.toISOString();
}
