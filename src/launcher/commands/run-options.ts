/** The options of `run`, and how they become config overrides. */
import { Option } from 'clipanion';
import * as t from 'typanion';
import { logLevels, type LogLevel } from '../../shared/log-levels.ts';
import type { Overrides } from '../../shared/config/load.ts';
import { AppCommand } from './base.ts';

/** Base of `run`: clipanion reads options from direct fields, so they are declared here once. */
export abstract class RunOptionsCommand extends AppCommand {
  config = Option.String('-c,--config', { description: 'Config file (default: $AI_PROXY_CONFIG, /etc/ai-proxy/ai-proxy.yaml for root, ~/.config/ai-proxy/ai-proxy.yaml, else the embedded default)' });
  host = Option.String('--host', { description: 'Listen address (overrides listen.host)' });
  port = Option.String('--port', { description: 'Listen port (overrides listen.port; 0 picks a free one)', validator: t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(0, 65535)]) });
  logLevel = Option.String('--log-level', { description: `Log level: ${logLevels.join(', ')}`, validator: t.isEnum(logLevels) });
  logFile = Option.String('--log-file', { description: 'Log to this file instead of the terminal (daemon default: /var/log/ai-proxy/ai-proxy.log for root, else $XDG_STATE_HOME/ai-proxy/ai-proxy.log)' });
  pidFile = Option.String('--pid-file', { description: 'PID file (default: $RUNTIME_DIRECTORY, /run/ai-proxy for root, else $XDG_RUNTIME_DIR/ai-proxy)' });
  shutdownTimeout = Option.String('--shutdown-timeout', { description: 'Time in-flight requests get to finish on stop, e.g. 30s' });
}

export function overridesFrom(fields: { host?: string; port?: number; logLevel?: LogLevel; logFile?: string; pidFile?: string; shutdownTimeout?: string }): Overrides {
  const overrides: Overrides = {};
  if (fields.host !== undefined) overrides.host = fields.host;
  if (fields.port !== undefined) overrides.port = fields.port;
  if (fields.logLevel !== undefined) overrides.logLevel = fields.logLevel;
  if (fields.logFile !== undefined) overrides.logFile = fields.logFile;
  if (fields.pidFile !== undefined) overrides.pidFile = fields.pidFile;
  if (fields.shutdownTimeout !== undefined) overrides.shutdownTimeout = fields.shutdownTimeout;
  return overrides;
}
