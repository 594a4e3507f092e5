/**
 * Wires the server process: the gateway's Lifecycle, its observers (IPC to the launcher, the
 * log), the launcher's orders, and signals sent straight to this process. The conversation with
 * the launcher (DESIGN §1): `hello` (the IPC protocol this code speaks) → `start` (the config the
 * launcher loaded, and a restart's state) → `ready` or `fatal`; then reloads, pings, and either a
 * shutdown or a restart's drain, after which the last state and the drain's report go back.
 * A server whose launcher is gone (IPC channel closed) shuts down by itself: no orphans, ever.
 */
import { existsSync } from 'node:fs';
import { describeReport } from '../shared/errors.ts';
import { ExitCode } from '../shared/exit-codes.ts';
import { IPC_PROTOCOL, type LauncherMessage, type ServerMessage } from '../shared/ipc.ts';
import type { ServerLaunch } from '../shared/launch.ts';
import { createLogger } from '../shared/logger.ts';
import { version } from '../shared/package-files.ts';
import { routeSignals } from '../shared/signals.ts';
import { Gateway } from './gateway.ts';
import { loadPipeline } from './http/handler.ts';
import { Lifecycle, type LifecycleEvent } from './lifecycle.ts';
import { Output } from './output.ts';

/** Once the launcher is gone, in-flight work gets this long: the launcher's deadline no longer protects anything. */
const ORPHAN_SHUTDOWN_MS = 1_500;

/**
 * Test-only (docs/operations.md, "Test hooks"): when this variable names a file that exists, the
 * server exits at start after its hello, as a server crashing on new code would. A test creates
 * the file before a restart and removes it after; a config cannot cause this, which is the point.
 */
const CRASH_HOOK = 'AI_PROXY_TEST_CRASH_AT_START_IF';

export async function runServer(launch: ServerLaunch): Promise<void> {
  const output = new Output();
  // Until the config arrives, log at info in text; the gateway switches to the configured format.
  const logger = createLogger({ name: 'server', level: 'info', format: 'text', journal: launch.journal === true, write: (line) => output.line(line) });
  const gateway = new Gateway(launch, output, logger);
  const lifecycle = new Lifecycle(gateway);
  const send = (message: ServerMessage): void => {
    if (process.send !== undefined && process.connected) process.send(message, () => undefined);
  };
  const sendAndFlush = (message: ServerMessage): Promise<void> =>
    new Promise((resolve) => {
      if (process.send === undefined || !process.connected) return resolve();
      process.send(message, () => resolve());
    });

  // The log observer goes first: a line already in the pipe when the launcher hears of a fatal
  // error still reaches the log, although the launcher kills this process on hearing it.
  lifecycle.observe((event) => {
    const log = gateway.logger;
    if (event.type === 'fatal') log.fatal(`cannot start: ${describeReport(event.error)}`);
    else if (event.type === 'stopped') log.info(event.forced ? 'stopped (forced: in-flight requests were cut at the deadline)' : 'stopped');
    else if (event.type === 'draining' && event.inFlight > 0) log.info(`draining: ${event.inFlight} requests in flight`);
  });
  lifecycle.observe((event) => {
    const message = toMessage(event);
    if (message !== null) send(message);
  });

  const exitAfter = (promise: Promise<{ forced: boolean }>): void => {
    void promise.then(({ forced }) => process.exit(forced ? ExitCode.FORCED : ExitCode.OK));
  };
  const shutdownFromConfig = (reason: string): void => {
    const config = gateway.snapshot?.config;
    exitAfter(lifecycle.shutdown({ timeoutMs: config?.shutdownTimeout ?? 30_000, delayMs: config?.shutdownDelay ?? 0 }, reason));
  };
  // A restart's old server: what it learnt while draining and what the drain did go back before it exits.
  const drainForRestart = (timeoutMs: number): void => {
    const drained = lifecycle.shutdown({ timeoutMs, delayMs: 0, polite: true }, 'restart');
    exitAfter(
      drained.then(async (result) => {
        send({ t: 'state', id: null, state: gateway.exportState('delta') });
        // Sent before the exit, not only queued: exit() would drop what the channel still holds.
        await sendAndFlush({ t: 'drained', report: gateway.drainReport });
        return result;
      }),
    );
  };

  process.on('message', (message: LauncherMessage) => {
    switch (message.t) {
      case 'start':
        if (process.env[CRASH_HOOK] !== undefined && existsSync(process.env[CRASH_HOOK])) {
          gateway.logger.fatal(`${CRASH_HOOK}: ${process.env[CRASH_HOOK]} exists; crashing at start (test hook)`);
          process.exit(ExitCode.FAILURE);
        }
        void start(message.config, message.generation, message.state);
        return;
      case 'reload':
        void lifecycle.reload(message.source, message.id, message.config);
        return;
      case 'reload-rejected':
        gateway.metrics.reloads.inc({ source: message.source, outcome: 'rejected' });
        return;
      case 'shutdown':
        exitAfter(lifecycle.shutdown({ timeoutMs: message.timeoutMs, delayMs: message.delayMs }, 'launcher'));
        return;
      case 'drain':
        drainForRestart(message.timeoutMs);
        return;
      case 'force':
        exitAfter(lifecycle.force('launcher'));
        return;
      case 'ping':
        send({ t: 'pong', id: message.id, ...gateway.load });
        return;
      case 'export-state':
        send({ t: 'state', id: message.id, state: gateway.exportState('full') });
        return;
      case 'merge-state':
        gateway.mergeState(message.state);
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
    // The launcher loads configs: it is asked to reload, as if it had been sent the SIGHUP.
    else if (signal === 'SIGHUP') send({ t: 'reload-request', source: 'signal' });
    else gateway.logger.info(`${signal} is handled by the launcher; ignored by the server`);
  });
  process.on('uncaughtException', (error) => {
    gateway.logger.fatal(`server bug, exiting: ${error.stack ?? error.message}`);
    process.exit(ExitCode.FAILURE);
  });

  const start = async (...args: Parameters<Lifecycle['start']>): Promise<void> => {
    if (!(await lifecycle.start(...args))) {
      process.exitCode = ExitCode.FAILURE;
      // Let the fatal message reach the launcher before the channel closes; closing it is no news to log.
      process.off('disconnect', onDisconnect);
      setTimeout(() => process.exit(ExitCode.FAILURE), 50).unref();
      if (process.connected) process.disconnect();
      return;
    }
    void loadPipeline();
  };

  send({ t: 'hello', protocol: IPC_PROTOCOL, version: version() });
}

function toMessage(event: LifecycleEvent): ServerMessage | null {
  switch (event.type) {
    case 'ready':
      return { t: 'ready', listen: event.listen, config: event.config };
    case 'fatal':
      return { t: 'fatal', error: event.error };
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
