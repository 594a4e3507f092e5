/**
 * The launcher's supervision of one server (DESIGN §1–§5), shared by foreground and daemon mode:
 * config → PID lock → log sink → control socket → fork server → relay readiness → serve signals,
 * control requests and the watchdog → shutdown with a deadline → clean up on every exit path.
 */
import { describeReport, toErrorReport, type ErrorReport } from '../shared/errors.ts';
import { ExitCode } from '../shared/exit-codes.ts';
import { launcherSettings, type LauncherSettings, type ReadyReport, type ReloadSource, type ReloadVerdict, type ServerInfo, type ServerMessage } from '../shared/ipc.ts';
import { createLogger, type AppLogger } from '../shared/logger.ts';
import { controlSocketPath, defaultLogFile, underSystemd } from '../shared/paths.ts';
import { CHILD_LISTEN_FD } from '../shared/launch.ts';
import { routeSignals, type HandledSignal } from '../shared/signals.ts';
import { version } from '../shared/package-files.ts';
import { loadConfig, type LoadedConfig, type Overrides } from '../shared/config/load.ts';
import type { ControlRequest, StatusInfo } from './control-protocol.ts';
import { ControlServer, type Reply } from './control-server.ts';
import { openLogSink, type LogSink } from './log-sink.ts';
import { acquirePidFile, type PidFileLock } from './pid-file.ts';
import { adoptSystemdListener, bindListener, SOCKET_ACTIVATION_VARIABLES, type Listener } from './listener.ts';
import { createSdNotifier, stripNotifyEnv, type SdNotifier } from './sd-notify.ts';
import { describeExit, ServerProcess, type ServerExit } from './server-process.ts';
import { Watchdog } from './watchdog.ts';

/** After the shutdown deadline the server gets this long to exit by itself before it is killed. */
const KILL_GRACE_MS = 2_000;
/** The longest `run -d` waits for the serving line to reach the log file. */
const READY_FLUSH_MS = 250;
/** How often systemd hears EXTEND_TIMEOUT_USEC while streams drain. */
const EXTEND_EVERY_MS = 5_000;

export interface RunOptions {
  configPath: string | undefined;
  overrides: Overrides;
  daemon: boolean;
  /** `--startup-timeout`: overrides the config's startup-timeout. */
  startupTimeoutMs?: number | undefined;
}

/** Where the launcher reports its fate: the `run -d` parent in daemon mode, nothing in the foreground. */
export type Reporter = {
  /** The config is loaded and the PID file held: the server is forked now and has `deadlineMs` to serve. */
  starting?(deadlineMs: number): void;
  ready(info: ReadyReport): void;
  failed(error: ErrorReport): void;
};

type State = StatusInfo['state'];

export class Supervisor {
  #log!: AppLogger;
  #sink: LogSink | null = null;
  #pid: PidFileLock | null = null;
  #listener: Listener | null = null;
  #control: ControlServer | null = null;
  #server: ServerProcess | null = null;
  // A failed sd_notify is the launcher's own error: it goes to the log (stderr is /dev/null when detached).
  #sd: SdNotifier = createSdNotifier(process.env, { onError: (error) => this.#onNotifyError(error) });
  #watchdog: Watchdog | null = null;
  #loaded!: LoadedConfig;
  /** What the launcher itself acts on: from the config at start, then from each applied reload. */
  #settings!: LauncherSettings;
  #state: State = 'starting';
  #startedAt = new Date();
  #status: Pick<StatusInfo, 'listen' | 'config' | 'lastReload'> = { listen: null, config: null, lastReload: null };
  #nextReloadId = 1;
  #pendingReloads = new Map<number, Reply[]>();
  #stopWaiters: Array<(forced: boolean) => void> = [];
  #stopping = false;
  /** Why the start was abandoned: a stop asked for before the gateway was ready. */
  #abandoned: string | null = null;
  #interrupts = 0;
  /** Resolve when the server's stdout/stderr are drained: its last words must reach the log. */
  #outputsClosed: Array<Promise<unknown>> = [];
  /** Set when the launcher had to SIGKILL the server at the deadline. */
  #killed = false;
  #killTimer: NodeJS.Timeout | null = null;
  /** Set when the server process has exited, whatever the phase. */
  #serverGone = false;
  /** Whether the reporter heard `ready`: a server lost before that is reported as a failure. */
  #reported = false;
  #extendTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: RunOptions, private readonly reporter: Reporter) {}

  /** Runs until the server is gone; resolves with the launcher's exit code. Never rejects. */
  async run(): Promise<ExitCode> {
    routeSignals((signal) => this.#onSignal(signal));
    let failure: ErrorReport | null = null;
    let prepared = false;
    try {
      await this.#prepare();
      prepared = true;
      if (this.#abandoned === null) {
        const ready = await this.#startServer();
        if (!ready.ok) failure = ready.error;
      }
    } catch (error) {
      failure = toErrorReport(error);
    }
    if (prepared && this.#abandoned !== null) {
      // Asked to stop before serving: nothing was in flight, so this is a clean stop, not a failure.
      const report: ErrorReport = { code: 'E_NOT_RUNNING', message: `stopped by ${this.#abandoned} before the gateway was ready` };
      this.#log.info(report.message);
      await this.#cleanup();
      this.reporter.failed(report);
      return ExitCode.OK;
    }
    if (failure !== null) {
      if (this.#sink !== null) this.#log.fatal(`startup failed: ${describeReport(failure)}`);
      // The PID file and the control socket go before the `run -d` command hears of the failure:
      // once it returns, nothing of this instance may be left.
      await this.#cleanup();
      this.reporter.failed(failure);
      return ExitCode.FAILURE;
    }
    const exit = await (this.#server as ServerProcess).exited;
    const code = this.#exitCodeFor(exit);
    await this.#cleanup();
    // Gone while the serving line was being flushed: `run -d` has not heard yet, and must not hear `ready`.
    if (!this.#reported) this.reporter.failed(this.#lostAfterReady(exit));
    return code;
  }

  #lostAfterReady(exit: ServerExit): ErrorReport {
    if (this.#stopping) return { code: 'E_NOT_RUNNING', message: 'stopped just after the gateway became ready' };
    const where = this.#sink?.path == null ? 'above' : `in ${this.#sink.path}`;
    return { code: 'E_SERVER_EXITED', message: `the server exited unexpectedly (${describeExit(exit)}) just after it became ready; its output is ${where}` };
  }

  async #prepare(): Promise<void> {
    this.#loaded = loadConfig({ path: this.options.configPath, overrides: this.options.overrides });
    const config = this.#loaded.config;
    this.#pid = acquirePidFile(this.#loaded.pidFile.path, process.pid);

    const toFile = config.log.file !== undefined || (this.options.daemon && !underSystemd());
    this.#sink = await openLogSink({
      file: toFile ? (config.log.file ?? defaultLogFile()) : null,
      rotate: config.log.rotate,
      maxFiles: config.log.maxFiles,
      maxSize: config.log.maxSize ?? null,
      compress: config.log.compress,
      // Disk full, EPIPE: reported once per failure on stderr (the terminal, or nothing when detached); never fatal.
      onError: (error) => process.stderr.write(`ai-proxy: log output failed: ${error.message}\n`),
      formatNotice: (message) => `${new Date().toISOString()} WARN launcher ${message}`,
    });
    this.#settings = launcherSettings(config);
    this.#log = this.#createLogger();
    process.on('uncaughtException', (error) => this.#onBug(error));
    process.on('unhandledRejection', (error) => this.#onBug(error));
    // Detached, the launcher's stderr is /dev/null: Node's own warnings would vanish there.
    if (this.options.daemon) process.on('warning', (warning) => this.#log.warn(`node: ${warning.name}: ${warning.message}`));

    // After the log sink: a port in use is logged there too, not only told to `run -d`.
    this.#listener = adoptSystemdListener() ?? (await bindListener(config.listen.host, config.listen.port));
    this.#control = await ControlServer.open(controlSocketPath(this.#pid.path), (request, reply) => this.#onControl(request, reply));
    // A daemon must not keep the directory it was started from busy (unmounts); every path is resolved by now.
    if (this.options.daemon) process.chdir('/');
  }

  #startServer(): Promise<{ ok: true } | { ok: false; error: ErrorReport }> {
    const startupTimeout = this.options.startupTimeoutMs ?? this.#loaded.config.startupTimeout;
    this.reporter.starting?.(startupTimeout);
    return new Promise((resolve) => {
      let settled = false;
      const settle = (result: { ok: true } | { ok: false; error: ErrorReport }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve(result);
      };
      const server = new ServerProcess(
        { configPath: this.#loaded.path, overrides: this.options.overrides, journal: this.#journal, listen: { fd: CHILD_LISTEN_FD, host: (this.#listener as Listener).host } },
        (this.#listener as Listener).fd,
        childEnv(process.env),
        (message) => {
          if (message.t === 'ready') {
            this.#state = 'ready';
            this.#status.listen = message.listen;
            this.#status.config = message.config;
            const pidFile = (this.#pid as PidFileLock).path;
            this.#log.info(`ai-proxy ${version()} serving on ${message.listen.url} (pid ${process.pid}, config ${message.config.path ?? 'embedded default'}, generation ${message.config.generation}, hash ${message.config.hash})`);
            this.#sd.ready(`serving on ${message.listen.url}`);
            this.#startWatchdog();
            // The startup ends here: a crash from now on is an unexpected exit, whatever the report's fate.
            settle({ ok: true });
            // `run -d` returns on this report: the serving line should be in the log file by then.
            void (this.#sink as LogSink).drained(READY_FLUSH_MS).then(() => {
              if (this.#serverGone) return;
              this.#reported = true;
              this.reporter.ready({ pid: process.pid, url: message.listen.url, pidFile, logFile: this.#sink?.path ?? null, servers: this.#servers() });
            });
          } else if (message.t === 'fatal') {
            settle({ ok: false, error: message.error });
          } else {
            this.#onServerMessage(message);
          }
        },
      );
      this.#server = server;
      const sink = this.#sink as LogSink;
      for (const stream of [server.child.stdout, server.child.stderr]) {
        if (stream === null) continue;
        sink.pipeFrom(stream);
        this.#outputsClosed.push(new Promise((resolve) => stream.once('close', resolve)));
      }
      const deadline = setTimeout(() => {
        server.kill();
        const origin = this.options.startupTimeoutMs === undefined ? 'startup-timeout' : '--startup-timeout';
        settle({ ok: false, error: { code: 'E_STARTUP_TIMEOUT', message: `the server did not become ready within ${startupTimeout / 1000}s (${origin}); it was killed` } });
      }, startupTimeout);
      void server.exited.then((exit) => {
        this.#serverGone = true;
        const where = sink.path === null ? 'above' : `in ${sink.path}`;
        if (!settled) settle({ ok: false, error: { code: 'E_SERVER_EXITED', message: `the server exited during startup (${describeExit(exit)}); its output is ${where}` } });
      });
    });
  }

  #onServerMessage(message: Exclude<ServerMessage, { t: 'ready' } | { t: 'fatal' }>): void {
    switch (message.t) {
      case 'reloading':
        // A reload that races the stop: systemd is already deactivating and must not be told otherwise.
        if (this.#stopping) return;
        this.#state = 'reloading';
        this.#sd.reloading();
        return;
      case 'reloaded':
        this.#onVerdict(message.id, message.verdict);
        if (message.settings !== undefined) this.#applySettings(message.settings);
        return;
      case 'draining':
        return;
      case 'pong':
        this.#watchdog?.pong(message.id);
        return;
    }
  }

  /** Under systemd with no log file, lines go to the journal, which reads a `<N>` priority prefix. */
  get #journal(): boolean {
    return this.#sink !== null && this.#sink.path === null && underSystemd();
  }

  #createLogger(): AppLogger {
    const sink = this.#sink as LogSink;
    return createLogger({ name: 'launcher', level: this.#settings.logLevel, format: this.#settings.logFormat, journal: this.#journal, write: (line) => sink.write(line) });
  }

  #applySettings(settings: LauncherSettings): void {
    const logChanged = settings.logLevel !== this.#settings.logLevel || settings.logFormat !== this.#settings.logFormat;
    this.#settings = settings;
    if (logChanged) this.#log = this.#createLogger();
  }

  #onVerdict(id: number | null, verdict: ReloadVerdict): void {
    if (!this.#stopping) this.#state = 'ready';
    this.#status.lastReload = verdict;
    if (verdict.ok) this.#status.config = { generation: verdict.generation, hash: verdict.hash, path: this.#status.config?.path ?? null };
    const text = verdict.ok
      ? `reload (${verdict.source}) applied: generation ${verdict.generation}, hash ${verdict.hash}${verdict.changed && verdict.changed.length > 0 ? `, changed ${verdict.changed.join(', ')}` : ', no change'}`
      : `reload (${verdict.source}) rejected, still serving generation ${verdict.generation}: ${describeReport(verdict.error ?? { code: 'E_RELOAD_REJECTED', message: 'rejected' })}`;
    // One event, one line (grep, the journal, STATUS=): the reason's details follow its summary.
    const status = text.split('\n').map((line) => line.trim()).filter((line) => line !== '').join('; ');
    if (verdict.ok) this.#log.info(status);
    else this.#log.error(status);
    // READY=1 after STOPPING=1 would announce a stopping service as up again; only the verdict goes out.
    if (this.#stopping) this.#sd.status(status);
    else this.#sd.reloaded(status);
    if (id !== null) {
      for (const reply of this.#pendingReloads.get(id) ?? []) reply({ id: 0, type: 'reloaded', verdict });
      this.#pendingReloads.delete(id);
    }
  }

  #reload(source: ReloadSource, reply: Reply | null): void {
    if (this.#server === null || this.#state === 'starting' || this.#stopping) {
      const error: ErrorReport = { code: 'E_RELOAD_REJECTED', message: `cannot reload now: the gateway is ${this.#stopping ? 'stopping' : 'starting'}` };
      this.#log.warn(error.message);
      reply?.({ id: 0, type: 'error', error });
      return;
    }
    const id = this.#nextReloadId++;
    if (reply !== null) this.#pendingReloads.set(id, [reply]);
    this.#server.send({ t: 'reload', id, source });
  }

  #onControl(request: ControlRequest, reply: Reply): void {
    const answer: Reply = (response) => reply({ ...response, id: request.id });
    switch (request.cmd) {
      case 'status':
        answer({ id: request.id, type: 'status', status: this.#statusInfo() });
        return;
      case 'reload':
        this.#reload('control', answer);
        return;
      case 'stop':
        answer({ id: request.id, type: 'stopping' });
        this.#stopWaiters.push((forced) => answer({ id: request.id, type: 'stopped', forced }));
        this.#shutdown('ai-proxy stop', request.timeoutMs);
        return;
      default:
        answer({ id: 0, type: 'error', error: { code: 'E_CONTROL', message: `unknown control command` } });
    }
  }

  #servers(): ServerInfo[] {
    if (this.#server === null) return [];
    const config = this.#status.config;
    return [{ pid: this.#server.pid, version: version(), phase: this.#state === 'starting' ? 'starting' : 'serving', generation: config?.generation ?? null, hash: config?.hash ?? null }];
  }

  #statusInfo(): StatusInfo {
    return {
      pid: process.pid,
      serverPid: this.#server?.pid ?? null,
      servers: this.#servers(),
      version: version(),
      startedAt: this.#startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.#startedAt.getTime()) / 1000),
      state: this.#stopping ? 'stopping' : this.#state,
      ...this.#status,
      pidFile: this.#pid?.path ?? '',
      logFile: this.#sink?.path ?? null,
    };
  }

  #onSignal(signal: HandledSignal): void {
    switch (signal) {
      case 'SIGTERM':
        this.#shutdown('SIGTERM', null);
        return;
      case 'SIGINT':
        if (++this.#interrupts > 1) this.#force('second SIGINT');
        else this.#shutdown('SIGINT', null);
        return;
      case 'SIGHUP':
        this.#reload('signal', null);
        return;
      case 'SIGUSR1':
        this.#log.info('SIGUSR1: reopening the log file');
        void this.#sink
          ?.reopen()
          .then(() => this.#log.info('log file reopened'))
          .catch((error: unknown) => this.#log.error(`cannot reopen the log file, still writing to the old one: ${(error as Error).message}`));
        return;
      case 'SIGUSR2':
        this.#log.warn('SIGUSR2 is reserved for a zero-downtime restart, which this version does not do; ignored');
        return;
    }
  }

  #shutdown(reason: string, timeoutMs: number | null): void {
    if (this.#stopping) return;
    const server = this.#server;
    this.#stopping = true;
    if (server === null || this.#state === 'starting') {
      // Nothing is served yet, so there is nothing to drain: abandon the start now rather than
      // wait for a server that may be stuck starting (run() reports it and cleans up).
      this.#abandoned = reason;
      if (this.#sink !== null) this.#log.info(`${reason}: stopping before the gateway was ready`);
      this.#sd.stopping(`stopping (${reason})`);
      server?.kill();
      return;
    }
    const config = this.#settings;
    const timeout = timeoutMs ?? config.shutdownTimeout;
    const total = config.shutdownDelay + timeout;
    this.#log.info(`${reason}: shutting down (delay ${config.shutdownDelay / 1000}s, timeout ${timeout / 1000}s)`);
    this.#sd.stopping(`shutting down (${reason})`);
    this.#watchdog?.stop();
    server.send({ t: 'shutdown', timeoutMs: timeout, delayMs: config.shutdownDelay });
    // From now on the socket lives as long as the server's own copy: once it stops accepting, new
    // connections are refused at once, not queued for a launcher that will never hand them on.
    this.#listener?.close();
    const stopBy = Date.now() + total + KILL_GRACE_MS;
    this.#sd.extendTimeout((total + KILL_GRACE_MS) * 1000);
    this.#extendTimer = setInterval(() => this.#sd.extendTimeout(Math.max(stopBy - Date.now(), 0) * 1000 + EXTEND_EVERY_MS * 1000), EXTEND_EVERY_MS);
    this.#killTimer = setTimeout(() => {
      this.#log.error(`the server did not stop within ${(total + KILL_GRACE_MS) / 1000}s; killing it (SIGKILL)`);
      this.#killed = true;
      server.kill();
    }, total + KILL_GRACE_MS);
  }

  #force(reason: string): void {
    this.#log.warn(`${reason}: forcing the shutdown now`);
    if (!this.#stopping) this.#shutdown(reason, 0);
    this.#server?.send({ t: 'force' });
  }

  #startWatchdog(): void {
    const usec = this.#sd.watchdogUsec;
    if (usec === null || this.#server === null) return;
    const server = this.#server;
    this.#watchdog = new Watchdog(Math.max(Math.floor(usec / 2000), 50), (id) => server.send({ t: 'ping', id }), () => this.#sd.watchdog());
  }

  #exitCodeFor(exit: ServerExit): ExitCode {
    if (this.#killed) return ExitCode.FORCED;
    if (!this.#stopping) {
      this.#log.error(`the server exited unexpectedly (${describeExit(exit)}); stopping the launcher so that a supervisor can restart it`);
      return ExitCode.FAILURE;
    }
    if (exit.code === ExitCode.FORCED) {
      this.#log.warn('shutdown forced: in-flight requests were cut at the deadline');
      return ExitCode.FORCED;
    }
    if (exit.code === 0) {
      this.#log.info('stopped');
      return ExitCode.OK;
    }
    this.#log.error(`the server failed while stopping (${describeExit(exit)})`);
    return ExitCode.FAILURE;
  }

  #onNotifyError(error: Error): void {
    // Only the first failure is reported, and datagrams go out after #prepare, once the log exists.
    if (this.#sink !== null) this.#log.error(error.message);
    else process.stderr.write(`ai-proxy: ${error.message}\n`);
  }

  #onBug(error: unknown): void {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    if (this.#sink !== null) this.#log.fatal(`launcher bug, exiting: ${text}`);
    else process.stderr.write(`ai-proxy launcher bug: ${text}\n`);
    this.#server?.kill();
    void this.#cleanup().finally(() => process.exit(ExitCode.FAILURE));
  }

  /** Idempotent; runs on every exit path the launcher survives. */
  async #cleanup(): Promise<void> {
    if (this.#killTimer !== null) clearTimeout(this.#killTimer);
    if (this.#extendTimer !== null) clearInterval(this.#extendTimer);
    this.#watchdog?.stop();
    this.#server?.kill();
    const exit = this.#server === null ? null : await this.#server.exited;
    const forced = this.#killed || exit?.code === ExitCode.FORCED;
    // The PID file goes first: `ai-proxy stop` returns once told, and must find it gone.
    this.#pid?.release();
    this.#pid = null;
    this.#listener?.close();
    this.#listener = null;
    for (const waiter of this.#stopWaiters.splice(0)) waiter(forced);
    for (const replies of this.#pendingReloads.values()) {
      for (const reply of replies) reply({ id: 0, type: 'error', error: { code: 'E_NOT_RUNNING', message: 'the gateway stopped before the reload finished' } });
    }
    this.#pendingReloads.clear();
    this.#control?.close();
    this.#control = null;
    this.#sd.close();
    await Promise.race([Promise.all(this.#outputsClosed), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    await this.#sink?.close();
    this.#sink = null;
  }
}

/** A server child's environment: neither systemd's notify socket nor its passed sockets are meant for it. */
function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const stripped = stripNotifyEnv(env);
  for (const name of SOCKET_ACTIVATION_VARIABLES) delete stripped[name];
  return stripped;
}
