/**
 * The launcher's supervision (DESIGN §1–§5), shared by foreground and daemon mode:
 * config → PID lock → log sink → listening socket → control socket → fork a server → relay its
 * readiness → serve signals, control requests, reloads, restarts and the watchdog → shutdown with
 * a deadline → clean up on every exit path.
 *
 * The supervisor is a state machine over `Phase` (below): which children run and what each is
 * for. Every event — a signal, a control request, a child's message or exit — is handled by a
 * switch over the phase, so the compiler checks that no phase forgets one.
 */
import { describeReport, toErrorReport, type ErrorReport } from '../shared/errors.ts';
import { ExitCode } from '../shared/exit-codes.ts';
import { launcherSettings, type GatewayState, type LauncherSettings, type ReadyReport, type ReloadSource, type ReloadVerdict, type ServerInfo } from '../shared/ipc.ts';
import { createLogger, type AppLogger } from '../shared/logger.ts';
import { controlSocketPath, defaultLogFile, underSystemd } from '../shared/paths.ts';
import { CHILD_LISTEN_FD } from '../shared/launch.ts';
import { routeSignals, type HandledSignal } from '../shared/signals.ts';
import { buildInfoOnDisk, runningBuild } from '../shared/package-files.ts';
import { loadConfig, type LoadedConfig, type Overrides } from '../shared/config/load.ts';
import { ConfigWatcher } from './config-watch.ts';
import type { ControlRequest, LauncherCode, RestartVerdict, StatusInfo } from './control-protocol.ts';
import { ControlServer, type Reply } from './control-server.ts';
import { openLogSink, type LogSink } from './log-sink.ts';
import { acquirePidFile, type PidFileLock } from './pid-file.ts';
import { adoptSystemdListener, bindListener, SOCKET_ACTIVATION_VARIABLES, type Listener } from './listener.ts';
import { resolveRunAsFor, type RunAs } from './run-as.ts';
import { createSdNotifier, stripNotifyEnv, type SdNotifier } from './sd-notify.ts';
import { ServerChild, type ChildMessage } from './server-child.ts';
import { describeExit, SERVER_ENTRY, type ServerExit } from './server-process.ts';
import { Watchdog } from './watchdog.ts';

/** After the shutdown deadline the server gets this long to exit by itself before it is killed. */
const KILL_GRACE_MS = 2_000;
/** The longest `run -d` waits for the serving line to reach the log file. */
const READY_FLUSH_MS = 250;
/** How often systemd hears EXTEND_TIMEOUT_USEC while streams drain. */
const EXTEND_EVERY_MS = 5_000;
/** How long a serving child gets to hand over its state, and to answer a status ping. */
const STATE_TIMEOUT_MS = 5_000;
const STATUS_PING_MS = 500;

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

/**
 * What runs. A restart goes serving → restarting (a second child starts beside the serving one)
 * → serving with the old child draining, or back to serving alone if the new one failed. Never
 * more than two children: a restart while one still drains is refused (or, forced, waits for the
 * cut one to go).
 */
type Phase =
  | { name: 'preparing' }
  | { name: 'starting'; child: ServerChild }
  | { name: 'serving'; child: ServerChild; draining: ServerChild | null }
  | { name: 'restarting'; child: ServerChild; next: ServerChild | null }
  | { name: 'stopping'; child: ServerChild | null; others: ServerChild[]; reason: string }
  | { name: 'stopped' };

/** How the servers ended: the stopped one's exit, or lost (died while serving). */
type Ending = { lost: true } | { lost: false; exit: ServerExit | null };

type RestartSource = RestartVerdict['source'];

interface PendingReload {
  loaded: LoadedConfig;
  reply: Reply | null;
}

export class Supervisor {
  #phase: Phase = { name: 'preparing' };
  #log!: AppLogger;
  #sink: LogSink | null = null;
  #pid: PidFileLock | null = null;
  #listener: Listener | null = null;
  #control: ControlServer | null = null;
  #watcher: ConfigWatcher | null = null;
  // A failed sd_notify is the launcher's own error: it goes to the log (stderr is /dev/null when detached).
  #sd: SdNotifier = createSdNotifier(process.env, { onError: (error) => this.#onNotifyError(error) });
  #watchdog: Watchdog | null = null;
  /** The config in force: from the start, then from each applied reload and restart. */
  #loaded!: LoadedConfig;
  #runAs: RunAs | null = null;
  /** What the launcher itself acts on, from #loaded. */
  #settings!: LauncherSettings;
  readonly #code = runningBuild();
  #startedAt = new Date();
  #lastReload: ReloadVerdict | null = null;
  #lastRestart: RestartVerdict | null = null;
  #nextReloadId = 1;
  readonly #reloads = new Map<number, PendingReload>();
  #stopWaiters: Array<(forced: boolean) => void> = [];
  #interrupts = 0;
  /** Resolve when the servers' stdout/stderr are drained: their last words must reach the log. */
  #outputsClosed: Array<Promise<unknown>> = [];
  /** Set when the launcher had to SIGKILL a server at the stop deadline. */
  #killed = false;
  #stopTimers: NodeJS.Timeout[] = [];
  #extendTimer: NodeJS.Timeout | null = null;
  /** Whether the reporter heard `ready`: a server lost before that is reported as a failure. */
  #reported = false;
  /** Every child forked and not gone yet: cleanup kills what is left, whatever the phase. */
  readonly #alive = new Set<ServerChild>();
  #finish!: (ending: Ending) => void;
  readonly #finished = new Promise<Ending>((resolve) => (this.#finish = resolve));

  constructor(private readonly options: RunOptions, private readonly reporter: Reporter) {}

  /** Runs until the servers are gone; resolves with the launcher's exit code. Never rejects. */
  async run(): Promise<ExitCode> {
    routeSignals((signal) => this.#onSignal(signal));
    let failure: ErrorReport | null;
    try {
      await this.#prepare();
      // A stop that came while preparing leaves no child to wait for: the start is abandoned here.
      if (this.#phase.name === 'preparing') failure = await this.#startFirst();
      else failure = { code: 'E_NOT_RUNNING', message: 'stopped before the gateway was ready' };
    } catch (error) {
      failure = toErrorReport(error);
    }
    const phase = this.#phase;
    if (phase.name === 'stopping' && this.#sink !== null && !this.#reported && failure !== null) {
      // Asked to stop before serving: nothing was in flight, so this is a clean stop, not a failure.
      const report: ErrorReport = { code: 'E_NOT_RUNNING', message: `stopped by ${phase.reason} before the gateway was ready` };
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
    const ending = await this.#finished;
    const code = ending.lost ? ExitCode.FAILURE : this.#exitCodeFor(ending.exit);
    await this.#cleanup(ending.lost ? null : ending.exit);
    // Gone while the serving line was being flushed: `run -d` has not heard yet, and must not hear `ready`.
    if (!this.#reported) {
      const where = this.#outputWhere;
      this.reporter.failed(
        code === ExitCode.OK
          ? { code: 'E_NOT_RUNNING', message: 'stopped just after the gateway became ready' }
          : { code: 'E_SERVER_EXITED', message: `the server exited unexpectedly just after it became ready; its output is ${where}` },
      );
    }
    return code;
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

    this.#runAs = resolveRunAsFor(config.user, config.group, SERVER_ENTRY);
    // After the log sink: a port in use is logged there too, not only told to `run -d`.
    this.#listener = adoptSystemdListener() ?? (await bindListener(config.listen.host, config.listen.port));
    this.#control = await ControlServer.open(controlSocketPath(this.#pid.path), (request, reply) => void this.#onControl(request, reply));
    // A daemon must not keep the directory it was started from busy (unmounts); every path is resolved by now.
    if (this.options.daemon) process.chdir('/');
  }

  // ---- children --------------------------------------------------------------------------

  /** Where a child's output goes, for error messages. */
  get #outputWhere(): string {
    return this.#sink?.path == null ? 'above' : `in ${this.#sink.path}`;
  }

  #spawn(loaded: LoadedConfig, generation: number, state: GatewayState | null, listener: Listener, runAs: RunAs | null): ServerChild {
    const child = new ServerChild({
      launch: { instance: { config: loaded.path, pidFile: (this.#pid as PidFileLock).path }, journal: this.#journal, listen: { fd: CHILD_LISTEN_FD, host: listener.host } },
      listenFd: listener.fd,
      env: childEnv(process.env),
      credentials: runAs,
      start: { config: loaded, generation, state },
      outputWhere: this.#outputWhere,
      onMessage: (from, message) => this.#onChildMessage(from, message),
    });
    const sink = this.#sink as LogSink;
    for (const stream of [child.process.child.stdout, child.process.child.stderr]) {
      if (stream === null) continue;
      sink.pipeFrom(stream);
      this.#outputsClosed.push(new Promise((resolve) => stream.once('close', resolve)));
    }
    this.#alive.add(child);
    void child.exited.then((exit) => {
      this.#alive.delete(child);
      this.#onChildExit(child, exit);
    });
    return child;
  }

  /** Waits for `child` to serve within the startup deadline; kills it if it does not. */
  async #whenReady(child: ServerChild): Promise<Awaited<ServerChild['ready']>> {
    const startupTimeout = this.options.startupTimeoutMs ?? this.#settings.startupTimeout;
    const origin = this.options.startupTimeoutMs === undefined ? 'startup-timeout' : '--startup-timeout';
    const deadline = setTimeout(
      () => child.abort({ code: 'E_STARTUP_TIMEOUT', message: `the server did not become ready within ${startupTimeout / 1000}s (${origin}); it was killed` }),
      startupTimeout,
    );
    const result = await child.ready;
    clearTimeout(deadline);
    return result;
  }

  async #startFirst(): Promise<ErrorReport | null> {
    this.reporter.starting?.(this.options.startupTimeoutMs ?? this.#settings.startupTimeout);
    const child = this.#spawn(this.#loaded, 1, null, this.#listener as Listener, this.#runAs);
    this.#phase = { name: 'starting', child };
    const result = await this.#whenReady(child);
    if (!result.ok) return result.error;
    if (this.#phase.name !== 'starting') return { code: 'E_NOT_RUNNING', message: 'stopped before the gateway was ready' };
    this.#phase = { name: 'serving', child, draining: null };
    const pidFile = (this.#pid as PidFileLock).path;
    const runAs = this.#runAs === null ? '' : `, server as ${this.#runAs.label}`;
    const listener = this.#listener as Listener;
    const socket = listener.origin === 'systemd' ? `, on ${listener.label}` : '';
    this.#log.info(
      `ai-proxy ${this.#code.version} serving on ${result.listen.url} (pid ${process.pid}, config ${result.config.path ?? 'embedded default'}, generation ${result.config.generation}, hash ${result.config.hash}${runAs}${socket})`,
    );
    this.#sd.ready(`serving on ${result.listen.url}`);
    this.#followWithWatchdog(child);
    // Watched before `run -d` hears `ready`, so an edit made as soon as it returns is seen.
    this.#watchConfig();
    // `run -d` returns on this report: the serving line should be in the log file by then.
    void (this.#sink as LogSink).drained(READY_FLUSH_MS).then(() => {
      if (this.#phase.name === 'stopped' || !child.running) return;
      this.#reported = true;
      this.reporter.ready({ pid: process.pid, url: result.listen.url, pidFile, logFile: this.#sink?.path ?? null, servers: this.#servers() });
    });
    return null;
  }

  #onChildMessage(child: ServerChild, message: ChildMessage): void {
    switch (message.t) {
      case 'reloaded':
        this.#onVerdict(message.id, message.verdict);
        return;
      case 'reload-request':
        // A SIGHUP sent to the server itself: the launcher loads configs, so it reloads.
        this.#reload('signal', null);
        return;
      case 'draining':
        child.lastLoad = { inFlight: message.inFlight, streams: child.lastLoad?.streams ?? 0 };
        return;
      case 'state': {
        // The old server's last delta after a restart: what it learnt while draining.
        const phase = this.#phase;
        if (phase.name === 'serving' && phase.draining === child) phase.child.send({ t: 'merge-state', state: message.state });
        return;
      }
      case 'drained': {
        const r = message.report;
        const cut = r.cut > 0 ? `; ${r.cut} cut at the restart-drain-timeout` : '';
        const text = `previous server (pid ${child.pid}) drained: ${r.finished} requests finished during the drain, ${r.streams} of them streams${cut}`;
        if (r.cut > 0) this.#log.warn(text);
        else this.#log.info(text);
        return;
      }
    }
  }

  #onChildExit(child: ServerChild, exit: ServerExit): void {
    const phase = this.#phase;
    switch (phase.name) {
      case 'preparing':
      case 'stopped':
        return;
      case 'starting':
        // Its ready promise reports the failure to the start.
        return;
      case 'serving':
        if (child === phase.draining) {
          phase.draining = null;
          if (child.drained) this.#log.info(`previous server (pid ${child.pid}) exited (${describeExit(exit)})`);
          else this.#log.error(`previous server (pid ${child.pid}) died while draining (${describeExit(exit)}); the requests it still had are lost, the gateway serves on`);
          return;
        }
        if (child === phase.child) this.#lost(child, exit, [phase.draining]);
        return;
      case 'restarting':
        // A new child lost before ready rolls the restart back, through its ready promise.
        if (child === phase.child) this.#lost(child, exit, [phase.next]);
        return;
      case 'stopping':
        if (child === phase.child) {
          phase.child = null;
          this.#stoppedExit = exit;
        } else if (child.drained) {
          this.#log.info(`previous server (pid ${child.pid}) exited (${describeExit(exit)})`);
        }
        phase.others = phase.others.filter((other) => other !== child);
        if (phase.child === null && phase.others.length === 0) {
          this.#phase = { name: 'stopped' };
          this.#finish({ lost: false, exit: this.#stoppedExit });
        }
        return;
    }
  }

  /** The exit of the server the stop was ordered to: what the launcher's exit code says. */
  #stoppedExit: ServerExit | null = null;

  /** The serving child died on its own: the launcher stops, so that a supervisor restarts it (DESIGN §5). */
  #lost(child: ServerChild, exit: ServerExit, others: Array<ServerChild | null>): void {
    this.#log.error(`the server exited unexpectedly (${describeExit(exit)}); stopping the launcher so that a supervisor can restart it`);
    for (const other of others) other?.kill();
    this.#phase = { name: 'stopped' };
    this.#finish({ lost: true });
  }

  /** Under systemd with no log file, lines go to the journal, which reads a `<N>` priority prefix. */
  get #journal(): boolean {
    return this.#sink !== null && this.#sink.path === null && underSystemd();
  }

  #createLogger(): AppLogger {
    const sink = this.#sink as LogSink;
    return createLogger({ name: 'launcher', level: this.#settings.logLevel, format: this.#settings.logFormat, journal: this.#journal, write: (line) => sink.write(line) });
  }

  #useConfig(loaded: LoadedConfig): void {
    this.#loaded = loaded;
    const settings = launcherSettings(loaded.config);
    const logChanged = settings.logLevel !== this.#settings.logLevel || settings.logFormat !== this.#settings.logFormat;
    this.#settings = settings;
    if (logChanged) this.#log = this.#createLogger();
  }

  #servers(): ServerInfo[] {
    const phase = this.#phase;
    const children: Array<ServerChild | null> =
      phase.name === 'starting'
        ? [phase.child]
        : phase.name === 'serving'
          ? [phase.child, phase.draining]
          : phase.name === 'restarting'
            ? [phase.child, phase.next]
            : phase.name === 'stopping'
              ? [phase.child, ...phase.others]
              : [];
    return children.filter((c): c is ServerChild => c !== null).map((c) => c.info(this.#code.version));
  }

  #serving(): ServerChild | null {
    const phase = this.#phase;
    return phase.name === 'serving' || phase.name === 'restarting' ? phase.child : null;
  }

  // ---- reloads -----------------------------------------------------------------------------

  #watchConfig(): void {
    const path = this.#loaded.path;
    if (path === null) return;
    const onChange = (): void => {
      if (this.#loaded.config.watchConfig) this.#reload('watch', null);
    };
    this.#watcher = new ConfigWatcher(path, () => this.#loaded.fileHash, onChange, (message) => this.#log.warn(message));
    this.#watcher.start();
  }

  #reload(source: ReloadSource, reply: Reply | null): void {
    const phase = this.#phase;
    if (phase.name !== 'serving') {
      const why: Record<Phase['name'], string> = {
        preparing: 'starting',
        starting: 'starting',
        serving: 'serving',
        restarting: 'restarting (the new server takes the config on disk)',
        stopping: 'stopping',
        stopped: 'stopping',
      };
      const error: ErrorReport = { code: 'E_RELOAD_REJECTED', message: `reload (${source}) refused: the gateway is ${why[phase.name]}` };
      this.#log.warn(error.message);
      // Told to systemd as a status only: READY=1 after STOPPING=1 would announce a stopping service as up.
      this.#sd.status(error.message);
      reply?.({ id: 0, type: 'error', error });
      return;
    }
    this.#sd.reloading();
    const id = this.#nextReloadId++;
    let loaded: LoadedConfig;
    try {
      loaded = this.#load();
    } catch (error) {
      const current = phase.child.config;
      const verdict: ReloadVerdict = { ok: false, source, at: new Date().toISOString(), generation: current?.generation ?? 0, hash: current?.hash ?? '', error: toErrorReport(error) };
      this.#reloads.set(id, { loaded: this.#loaded, reply });
      phase.child.send({ t: 'reload-rejected', source });
      this.#onVerdict(id, verdict);
      return;
    }
    this.#reloads.set(id, { loaded, reply });
    phase.child.send({ t: 'reload', id, source, config: loaded });
  }

  /** The config on disk, as at start (the same file, or the same search), with the same overrides. */
  #load(): LoadedConfig {
    return loadConfig({ path: this.#loaded.path ?? this.options.configPath, overrides: this.options.overrides });
  }

  #onVerdict(id: number, verdict: ReloadVerdict): void {
    const pending = this.#reloads.get(id);
    this.#reloads.delete(id);
    const stopping = this.#phase.name === 'stopping' || this.#phase.name === 'stopped';
    this.#lastReload = verdict;
    if (verdict.ok && pending !== undefined) {
      this.#useConfig(pending.loaded);
      const child = this.#serving();
      if (child !== null) child.config = { generation: verdict.generation, hash: verdict.hash, path: child.config?.path ?? null };
    }
    const text = verdict.ok
      ? `reload (${verdict.source}) applied: generation ${verdict.generation}, hash ${verdict.hash}${verdict.changed && verdict.changed.length > 0 ? `, changed ${verdict.changed.join(', ')}` : ', no change'}`
      : `reload (${verdict.source}) rejected, still serving generation ${verdict.generation}: ${describeReport(verdict.error ?? { code: 'E_RELOAD_REJECTED', message: 'rejected' })}`;
    const status = oneLine(text);
    if (verdict.ok) this.#log.info(status);
    else this.#log.error(status);
    // READY=1 after STOPPING=1 would announce a stopping service as up again; only the verdict goes out.
    if (stopping) this.#sd.status(status);
    else this.#sd.reloaded(status);
    pending?.reply?.({ id: 0, type: 'reloaded', verdict });
  }

  // ---- restarts ----------------------------------------------------------------------------

  async #restart(source: RestartSource, drainTimeoutMs: number | null, force: boolean, reply: Reply | null): Promise<void> {
    const refuse = (error: ErrorReport): void => {
      this.#log.warn(`restart (${source}) refused: ${error.message}`);
      reply?.({ id: 0, type: 'error', error });
    };
    let phase = this.#phase;
    if (phase.name !== 'serving') {
      const what = phase.name === 'restarting' ? 'a restart is already in progress' : `the gateway is ${phase.name === 'preparing' ? 'starting' : phase.name}`;
      return refuse({ code: 'E_RESTART_REFUSED', message: `cannot restart now: ${what}` });
    }
    if (phase.draining !== null) {
      const old = phase.draining;
      const load = await old.ping(STATUS_PING_MS);
      const left = load === null ? 'an unknown number of' : `${load.inFlight} requests (${load.streams} streams)`;
      if (!force) return refuse({ code: 'E_RESTART_REFUSED', message: `the previous server (pid ${old.pid}) is still draining ${left} left; wait for it, or use --force to cut them` });
      this.#log.warn(`restart (${source}) with --force: cutting the previous server's drain (pid ${old.pid}, ${left} left)`);
      old.send({ t: 'force' });
      const killer = setTimeout(() => old.kill(), KILL_GRACE_MS);
      await old.exited;
      clearTimeout(killer);
      phase = this.#phase;
      if (phase.name !== 'serving') return refuse({ code: 'E_RESTART_REFUSED', message: `cannot restart now: the gateway is ${phase.name}` });
    }
    const serving = phase.child;
    this.#phase = { name: 'restarting', child: serving, next: null };
    reply?.({ id: 0, type: 'restarting' });
    this.#sd.reloading();
    this.#log.info(`restart (${source}): starting a new server from the code and the config on disk`);
    const verdict = await this.#swap(serving, source, drainTimeoutMs);
    this.#lastRestart = verdict;
    const status = verdict.ok
      ? `restart (${source}) done: pid ${verdict.pid} (version ${verdict.version}, generation ${verdict.generation}, hash ${verdict.hash}) serves; pid ${verdict.previous?.pid} drains ${verdict.previous?.inFlight ?? '?'} requests (${verdict.previous?.streams ?? '?'} streams)`
      : `restart (${source}) failed, pid ${verdict.pid} still serves: ${describeReport(verdict.error ?? { code: 'E_RESTART_FAILED', message: 'failed' })}`;
    const line = oneLine(status);
    if (verdict.ok) this.#log.info(line);
    else this.#log.error(line);
    if ((this.#phase as Phase).name === 'serving') this.#sd.reloaded(line);
    else this.#sd.status(line);
    reply?.({ id: 0, type: 'restarted', verdict });
  }

  /** The handover itself; leaves the phase `serving` (new child, or the old one again) unless a stop came meanwhile. */
  async #swap(serving: ServerChild, source: RestartSource, drainTimeoutMs: number | null): Promise<RestartVerdict> {
    const at = new Date().toISOString();
    const failed = (error: ErrorReport): RestartVerdict => {
      if (this.#phase.name === 'restarting') this.#phase = { name: 'serving', child: serving, draining: null };
      return { ok: false, source, at, pid: serving.pid, version: serving.version, generation: serving.config?.generation ?? null, hash: serving.config?.hash ?? null, previous: null, error };
    };
    let loaded: LoadedConfig;
    let runAs: RunAs | null;
    try {
      loaded = this.#load();
      runAs = resolveRunAsFor(loaded.config.user, loaded.config.group, SERVER_ENTRY);
    } catch (error) {
      return failed(toErrorReport(error));
    }
    const current = this.#listener as Listener;
    let listener = current;
    const { host, port } = loaded.config.listen;
    if (current.origin === 'bound' && (host !== current.host || (port !== current.port && port !== 0))) {
      try {
        listener = await bindListener(host, port);
      } catch (error) {
        return failed(toErrorReport(error));
      }
    }
    const dropListener = (): void => {
      if (listener !== current) listener.close();
    };
    const state = await serving.exportState(STATE_TIMEOUT_MS);
    if (state === null) {
      dropListener();
      return failed({ code: 'E_RESTART_FAILED', message: `the serving server (pid ${serving.pid}) did not hand over its state within ${STATE_TIMEOUT_MS / 1000}s` });
    }
    if (this.#phase.name !== 'restarting') {
      dropListener();
      return failed({ code: 'E_NOT_RUNNING', message: 'the gateway began to stop during the restart' });
    }
    let next: ServerChild;
    try {
      next = this.#spawn(loaded, (serving.config?.generation ?? 0) + 1, state, listener, runAs);
    } catch (error) {
      // fork(2) itself failed (EAGAIN, ENOMEM, EPERM for another uid): nothing was started.
      dropListener();
      return failed({ code: 'E_RESTART_FAILED', message: `cannot start a new server: ${(error as Error).message}` });
    }
    this.#phase.next = next;
    const result = await this.#whenReady(next);
    if (!result.ok || this.#phase.name !== 'restarting') {
      next.kill();
      dropListener();
      return failed(result.ok ? { code: 'E_NOT_RUNNING', message: 'the gateway began to stop during the restart' } : result.error);
    }
    // The handover: from here the new child serves and the old one drains.
    const load = await serving.ping(STATUS_PING_MS);
    serving.phase = 'draining';
    serving.since = new Date();
    this.#phase = { name: 'serving', child: next, draining: serving };
    serving.send({ t: 'drain', timeoutMs: drainTimeoutMs ?? loaded.config.restartDrainTimeout });
    if (listener !== current) {
      // The old child closes its own copy as it stops accepting; the launcher's goes now.
      current.close();
      this.#listener = listener;
    }
    this.#useConfig(loaded);
    this.#runAs = runAs;
    this.#followWithWatchdog(next);
    return {
      ok: true,
      source,
      at,
      pid: next.pid,
      version: next.version,
      generation: result.config.generation,
      hash: result.config.hash,
      previous: { pid: serving.pid, inFlight: load?.inFlight ?? null, streams: load?.streams ?? null },
    };
  }

  // ---- control, signals --------------------------------------------------------------------

  async #onControl(request: ControlRequest, reply: Reply): Promise<void> {
    const answer: Reply = (response) => reply({ ...response, id: request.id });
    switch (request.cmd) {
      case 'status':
        answer({ id: request.id, type: 'status', status: await this.#statusInfo() });
        return;
      case 'reload':
        this.#reload('control', answer);
        return;
      case 'restart':
        await this.#restart('control', request.drainTimeoutMs, request.force, answer);
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

  async #statusInfo(): Promise<StatusInfo> {
    const phase = this.#phase;
    const children = phase.name === 'serving' ? [phase.child, phase.draining] : phase.name === 'restarting' ? [phase.child, phase.next] : [];
    // Fresh counts of requests and streams; a child that does not answer keeps its last ones.
    await Promise.all(children.map((child) => (child !== null && child.phase !== 'starting' ? child.ping(STATUS_PING_MS) : null)));
    const serving = this.#serving() ?? (phase.name === 'starting' ? phase.child : null);
    const state: StatusInfo['state'] =
      phase.name === 'stopping' || phase.name === 'stopped' ? 'stopping' : phase.name === 'restarting' ? 'restarting' : phase.name === 'serving' ? (this.#reloads.size > 0 ? 'reloading' : 'ready') : 'starting';
    return {
      pid: process.pid,
      serverPid: serving?.pid ?? null,
      servers: this.#servers(),
      version: this.#code.version,
      launcher: this.#launcherCode(),
      startedAt: this.#startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.#startedAt.getTime()) / 1000),
      state,
      listen: serving?.listen ?? null,
      config: serving?.config ?? null,
      lastReload: this.#lastReload,
      lastRestart: this.#lastRestart,
      pidFile: this.#pid?.path ?? '',
      logFile: this.#sink?.path ?? null,
    };
  }

  #launcherCode(): LauncherCode {
    const onDisk = buildInfoOnDisk();
    const outdated = onDisk !== null && (onDisk.version !== this.#code.version || onDisk.build !== this.#code.build);
    return { version: this.#code.version, build: this.#code.build, onDisk, outdated };
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
        void this.#restart('signal', null, false, null);
        return;
    }
  }

  #shutdown(reason: string, timeoutMs: number | null): void {
    const phase = this.#phase;
    switch (phase.name) {
      case 'stopping':
      case 'stopped':
        return;
      case 'preparing':
      case 'starting': {
        // Nothing is served yet, so there is nothing to drain: abandon the start now rather than
        // wait for a server that may be stuck starting (run() reports it and cleans up).
        const child = phase.name === 'starting' ? phase.child : null;
        this.#phase = { name: 'stopping', child, others: [], reason };
        if (this.#sink !== null) this.#log.info(`${reason}: stopping before the gateway was ready`);
        this.#sd.stopping(`stopping (${reason})`);
        child?.abort({ code: 'E_NOT_RUNNING', message: `stopped by ${reason} before the gateway was ready` });
        return;
      }
      case 'serving':
      case 'restarting': {
        const others = phase.name === 'serving' ? phase.draining : phase.next;
        this.#phase = { name: 'stopping', child: phase.child, others: others === null ? [] : [others], reason };
        // A restart's new server is not serving yet: it goes at once, and the restart fails.
        if (phase.name === 'restarting') phase.next?.abort({ code: 'E_NOT_RUNNING', message: `stopped by ${reason} during the restart` });
        this.#drainAll(reason, phase.child, phase.name === 'serving' ? phase.draining : null, timeoutMs);
        return;
      }
    }
  }

  #drainAll(reason: string, child: ServerChild, draining: ServerChild | null, timeoutMs: number | null): void {
    this.#watcher?.stop();
    const config = this.#settings;
    const timeout = timeoutMs ?? config.shutdownTimeout;
    const total = config.shutdownDelay + timeout;
    this.#log.info(`${reason}: shutting down (delay ${config.shutdownDelay / 1000}s, timeout ${timeout / 1000}s)`);
    this.#sd.stopping(`shutting down (${reason})`);
    this.#watchdog?.stop();
    child.send({ t: 'shutdown', timeoutMs: timeout, delayMs: config.shutdownDelay });
    // From now on the socket lives as long as the server's own copy: once it stops accepting, new
    // connections are refused at once, not queued for a launcher that will never hand them on.
    this.#listener?.close();
    const children = [child, draining].filter((c): c is ServerChild => c !== null);
    // A restart's old server drains on its own, longer deadline: the stop's cuts it.
    if (draining !== null) this.#stopTimers.push(setTimeout(() => draining.send({ t: 'force' }), total));
    const stopBy = Date.now() + total + KILL_GRACE_MS;
    this.#sd.extendTimeout((total + KILL_GRACE_MS) * 1000);
    this.#extendTimer = setInterval(() => this.#sd.extendTimeout(Math.max(stopBy - Date.now(), 0) * 1000 + EXTEND_EVERY_MS * 1000), EXTEND_EVERY_MS);
    this.#stopTimers.push(
      setTimeout(() => {
        const left = children.filter((c) => c.running);
        if (left.length === 0) return;
        this.#log.error(`the server did not stop within ${(total + KILL_GRACE_MS) / 1000}s; killing it (SIGKILL)`);
        this.#killed = true;
        for (const c of left) c.kill();
      }, total + KILL_GRACE_MS),
    );
  }

  #force(reason: string): void {
    this.#log.warn(`${reason}: forcing the shutdown now`);
    this.#shutdown(reason, 0);
    const phase = this.#phase;
    if (phase.name !== 'stopping') return;
    phase.child?.send({ t: 'force' });
    for (const other of phase.others) other.send({ t: 'force' });
  }

  #followWithWatchdog(child: ServerChild): void {
    this.#watchdog?.stop();
    const usec = this.#sd.watchdogUsec;
    if (usec === null) return;
    this.#watchdog = new Watchdog(Math.max(Math.floor(usec / 2000), 50), (timeoutMs) => child.ping(timeoutMs), () => this.#sd.watchdog());
  }

  #exitCodeFor(exit: ServerExit | null): ExitCode {
    if (this.#killed) return ExitCode.FORCED;
    if (exit === null) return ExitCode.OK;
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
    this.#killAll();
    void this.#cleanup().finally(() => process.exit(ExitCode.FAILURE));
  }

  #killAll(): void {
    for (const child of this.#alive) child.kill();
  }

  /** Idempotent; runs on every exit path the launcher survives. */
  async #cleanup(exit: ServerExit | null = null): Promise<void> {
    for (const timer of this.#stopTimers) clearTimeout(timer);
    if (this.#extendTimer !== null) clearInterval(this.#extendTimer);
    this.#watchdog?.stop();
    this.#watcher?.stop();
    const children = [...this.#alive];
    for (const child of children) child.kill();
    await Promise.all(children.map((child) => child.exited));
    const forced = this.#killed || exit?.code === ExitCode.FORCED;
    // The PID file goes first: `ai-proxy stop` returns once told, and must find it gone.
    this.#pid?.release();
    this.#pid = null;
    this.#listener?.close();
    this.#listener = null;
    for (const waiter of this.#stopWaiters.splice(0)) waiter(forced);
    for (const pending of this.#reloads.values()) pending.reply?.({ id: 0, type: 'error', error: { code: 'E_NOT_RUNNING', message: 'the gateway stopped before the reload finished' } });
    this.#reloads.clear();
    this.#control?.close();
    this.#control = null;
    this.#sd.close();
    await Promise.race([Promise.all(this.#outputsClosed), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    await this.#sink?.close();
    this.#sink = null;
  }
}

/** One event, one line (grep, the journal, STATUS=): the reason's details follow its summary. */
function oneLine(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join('; ');
}

/** A server child's environment: neither systemd's notify socket nor its passed sockets are meant for it. */
function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const stripped = stripNotifyEnv(env);
  for (const name of SOCKET_ACTIVATION_VARIABLES) delete stripped[name];
  return stripped;
}
