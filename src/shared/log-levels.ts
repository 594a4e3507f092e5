/**
 * The log levels, apart from the config schema so that the CLI can offer them in `--help`
 * without loading the schema library (the config chunk is the largest part of a start).
 */
export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof logLevels)[number];
