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
  /** Lines go to the systemd journal (stdout under systemd): prefix each with its priority. */
  journal?: boolean;
  write(line: string): void;
}

/** sd-daemon(3) priorities by tslog level id: journald reads a leading `<N>` (SyslogLevelPrefix=). */
const journalPrefix: Record<number, string> = { 0: '<7>', 1: '<7>', 2: '<7>', 3: '<6>', 4: '<4>', 5: '<3>', 6: '<2>' };

/** The prefix for a line the logger does not format itself (the access log). */
export function journalInfoPrefix(journal: boolean): string {
  return journal ? '<6>' : '';
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
  const format = options.format === 'json' ? 'json' : 'pretty';
  if (options.journal === true) {
    // tslog keeps the level in the record's meta property (`_logMeta` unless configured otherwise).
    logger.attachTransport({ format, write: (record, line) => options.write((journalPrefix[record._logMeta?.logLevelId ?? 3] ?? '<6>') + line) });
  } else {
    logger.attachTransport({ format, write: (_record, line) => options.write(line) });
  }
  return logger;
}
