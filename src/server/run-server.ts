/**
 * Wires the server process: the gateway's Lifecycle, its observers (IPC to the launcher, the
 * log), the launcher's orders, signals sent straight to this process, and the config watcher.
 * A server whose launcher is gone (IPC channel closed) shuts down by itself: no orphans, ever.
 */
import { describeReport } from '../shared/errors.ts';
import { ExitCode } from '../shared/exit-codes.ts';
import { launcherSettings, type LauncherMessage, type ServerMessage } from '../shared/ipc.ts';
import type { ServerLaunch } from '../shared/launch.ts';
import { createLogger } from '../shared/logger.ts';
import { routeSignals } from '../shared/signals.ts';
import { ConfigWatcher } from './config-watch.ts';
import { Gateway } from './gateway.ts';
import { loadPipeline } from './http/handler.ts';
import { Lifecycle, type LifecycleEvent } from './lifecycle.ts';
import { Output } from './output.ts';

/** Once the launcher is gone, in-flight work gets this long: the launcher's deadline no longer protects anything. */
const ORPHAN_SHUTDOWN_MS = 1_500;

export async function runServer(launch: ServerLaunch): Promise<void> {
  const output = new Output();
  // Until the config is loaded, log at info in text; the gateway switches to the configured format.
  const logger = createLogger({ name: 'server', level: 'info', format: 'text', journal: launch.journal === true, write: (line) => output.line(line) });
  const gateway = new Gateway(launch, output, logger);
  const lifecycle = new Lifecycle(gateway);
  const send = (message: ServerMessage): void => {
    if (process.send !== undefined && process.connected) process.send(message, () => undefined);
  };

  // The log observer goes first: a line already in the pipe when the launcher hears of a fatal
  // error still reaches the log, although the launcher kills this process on hearing it.
  lifecycle.observe((event) => {
    const log = gateway.logger;
    if (event.type === 'fatal') log.fatal(`cannot start: ${describeReport(event.error)}`);
    else if (event.type === 'stopped') log.info(event.forced ? 'stopped (forced: in-flight requests were cut at the deadline)' : 'stopped');
    else if (event.type === 'draining' && event.inFlight > 0) log.info(`draining: ${event.inFlight} requests in flight`);
  });
  // The file is watched before the launcher hears 'ready', so an edit made as soon as `run`
  // reports serving is seen. Started after the ready report, it came 20-30 ms late on Node 24,
  // whose import() loads and links the pipeline's whole module graph before it returns.
  lifecycle.observe((event) => {
    if (event.type === 'ready') watchConfig(gateway, lifecycle);
  });
  lifecycle.observe((event) => {
    const message = toMessage(event);
    if (message === null) return;
    // An applied reload swapped the snapshot before this event: its config is the new one.
    const config = gateway.snapshot?.config;
    if (message.t === 'reloaded' && message.verdict.ok && config !== undefined) message.settings = launcherSettings(config);
    send(message);
  });

  const exitAfter = (promise: Promise<{ forced: boolean }>): void => {
    void promise.then(({ forced }) => process.exit(forced ? ExitCode.FORCED : ExitCode.OK));
  };
  const shutdownFromConfig = (reason: string): void => {
    const config = gateway.snapshot?.config;
    exitAfter(lifecycle.shutdown({ timeoutMs: config?.shutdownTimeout ?? 30_000, delayMs: config?.shutdownDelay ?? 0 }, reason));
  };

  process.on('message', (message: LauncherMessage) => {
    switch (message.t) {
      case 'reload':
        void lifecycle.reload(message.source, message.id);
        return;
      case 'shutdown':
        exitAfter(lifecycle.shutdown({ timeoutMs: message.timeoutMs, delayMs: message.delayMs }, 'launcher'));
        return;
      case 'force':
        exitAfter(lifecycle.force('launcher'));
        return;
      case 'ping':
        send({ t: 'pong', id: message.id });
        return;
    }
  });
  const onDisconnect = (): void => {
    gateway.logger.warn('the launcher is gone (IPC channel closed); shutting down');
    exitAfter(lifecycle.shutdown({ timeoutMs: ORPHAN_SHUTDOWN_MS, delayMs: 0 }, 'launcher gone'));
  };
  process.on('disconnect', onDisconnect);
  // Signals sent straight to the server (e.g. `systemctl kill`) take the launcher's paths.
  routeSignals((signal) => {
    if (signal === 'SIGTERM' || signal === 'SIGINT') shutdownFromConfig(signal);
    else if (signal === 'SIGHUP') void lifecycle.reload('signal');
    else gateway.logger.info(`${signal} is handled by the launcher; ignored by the server`);
  });
  process.on('uncaughtException', (error) => {
    gateway.logger.fatal(`server bug, exiting: ${error.stack ?? error.message}`);
    process.exit(ExitCode.FAILURE);
  });

  if (!(await lifecycle.start())) {
    process.exitCode = ExitCode.FAILURE;
    // Let the fatal message reach the launcher before the channel closes; closing it is no news to log.
    process.off('disconnect', onDisconnect);
    setTimeout(() => process.exit(ExitCode.FAILURE), 50).unref();
    if (process.connected) process.disconnect();
    return;
  }
  void loadPipeline();
}

/** Always watching, acting only while the config in force says so: a reload may turn watch-config on or off. */
function watchConfig(gateway: Gateway, lifecycle: Lifecycle): void {
  const path = gateway.snapshot?.path ?? null;
  if (path === null) return;
  const onChange = (): void => {
    if (gateway.snapshot?.config.watchConfig === true) void lifecycle.reload('watch');
  };
  new ConfigWatcher(path, () => gateway.snapshot?.fileHash ?? null, onChange, (message) => gateway.logger.warn(message)).start();
}

function toMessage(event: LifecycleEvent): ServerMessage | null {
  switch (event.type) {
    case 'ready':
      return { t: 'ready', listen: event.listen, config: event.config };
    case 'fatal':
      return { t: 'fatal', error: event.error };
    case 'reloading':
      return { t: 'reloading', id: event.id, source: event.source };
    case 'reloaded':
      return { t: 'reloaded', id: event.id, verdict: event.verdict };
    case 'draining':
      return { t: 'draining', inFlight: event.inFlight };
    case 'stopping':
    case 'stopped':
      // The launcher ordered the stop and learns its end from the exit code.
      return null;
  }
}
