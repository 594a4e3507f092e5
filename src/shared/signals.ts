/**
 * Signal handling that starts before anything else (DESIGN §2). Without a handler Node 20 dies
 * on SIGHUP and opens its inspector (a code-execution port on 127.0.0.1:9229) on SIGUSR1, and
 * `systemctl kill` signals every process of the unit. So each entry point installs these
 * handlers as its very first act; signals that arrive before the process is ready to act are
 * queued and replayed, in order, once the real handler is routed in.
 */
export const handledSignals = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2'] as const;
export type HandledSignal = (typeof handledSignals)[number];

/** The signal table rendered in the README (launcher = the main PID; systemd signals it). */
export const signalTable: ReadonlyArray<{ signal: HandledSignal | 'SIGTERM, SIGINT'; meaning: string }> = [
  { signal: 'SIGTERM, SIGINT', meaning: 'graceful shutdown: /readyz answers 503 for shutdown-delay, then stop accepting, finish in-flight requests and streams within shutdown-timeout, then force. A second SIGINT forces at once.' },
  { signal: 'SIGHUP', meaning: 'reload the config file (same path and verdict as `ai-proxy reload` and the file watcher)' },
  { signal: 'SIGUSR1', meaning: 'reopen the log file (for logrotate with `log.rotate: external`)' },
  { signal: 'SIGUSR2', meaning: 'restart the server child without dropping a connection, as `ai-proxy restart` does (the verdict goes to the log)' },
];

type Handler = (signal: HandledSignal) => void;

let handler: Handler | null = null;
const pending: HandledSignal[] = [];
let installed = false;

function onSignal(signal: NodeJS.Signals): void {
  const s = signal as HandledSignal;
  if (handler === null) pending.push(s);
  else handler(s);
}

export function installEarlySignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const signal of handledSignals) process.on(signal, onSignal);
}

/** Route signals to the real handler; signals queued since startup are delivered now, in order. */
export function routeSignals(next: Handler): void {
  handler = next;
  while (pending.length > 0) next(pending.shift() as HandledSignal);
}

/** For short-lived commands (status, stop…): give the signals back their default meaning. */
export function releaseSignals(): void {
  for (const signal of handledSignals) process.off(signal, onSignal);
  installed = false;
}
