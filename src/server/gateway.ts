/**
 * The gateway as a Lifecycle service: takes the config the launcher loaded, owns the HTTP server
 * and the current snapshot, applies reloads atomically (or rejects them whole), hands what it has
 * learnt to a restart's successor, and drains on stop.
 */
import { createServer, type Server } from 'node:http';
import { AppError, toErrorReport } from '../shared/errors.ts';
import type { ConfigInfo, DrainReport, GatewayState, ListenInfo, ReloadSource, ReloadVerdict } from '../shared/ipc.ts';
import type { ServerLaunch } from '../shared/launch.ts';
import { createLogger, journalInfoPrefix, type AppLogger } from '../shared/logger.ts';
import type { LoadedConfig } from '../shared/config/load.ts';
import { CaptureHub } from './observability/capture.ts';
import { Metrics } from './observability/metrics.ts';
import type { Output } from './output.ts';
import { createRequestHandler } from './http/handler.ts';
import { answerMalformed } from './http/malformed.ts';
import { RequestTracker } from './http/tracker.ts';
import { Fleet } from './shared-state/fleet.ts';
import type { Service, ShutdownOptions, ShutdownResult } from './lifecycle.ts';
import { listen } from './listen.ts';
import { buildSnapshot, changedSections, type Snapshot } from './snapshot.ts';
import { exportGatewayState, importGatewayState } from './state-handover.ts';
import { UsageAccounting } from './usage/accounting.ts';
import { readBudgetClock } from './usage/budget-clock.ts';
import { openLedger } from './usage/open-ledger.ts';

const SEED_TIMEOUT_MS = 5_000;

function waitForSeed(ledger: { opened: Promise<boolean> } | null): Promise<unknown> {
  if (ledger === null) return Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([ledger.opened, new Promise((resolve) => (timer = setTimeout(resolve, SEED_TIMEOUT_MS)))]).finally(() => clearTimeout(timer));
}

export class Gateway implements Service {
  snapshot: Snapshot | null = null;
  logger: AppLogger;
  /** False until listening and again from the start of a stop: /readyz reports it. */
  ready = false;
  #http: Server | null = null;
  #tracker: RequestTracker | null = null;
  #listen: ListenInfo | null = null;
  #cutDelay: (() => void) | null = null;
  /** The fleet's shared state (Redis), with `shared-state` configured. */
  fleet: Fleet | null = null;
  /** One registry for the process's life: counters survive reloads. */
  readonly metrics: Metrics;
  /** Cost, usage metrics, budget spend and the ledger row of each model request. */
  readonly usage: UsageAccounting;
  /** The operators' request captures (POST /admin/capture); none armed costs one boolean per request. */
  readonly capture = new CaptureHub();
  /** Put before each access line: the journal's info priority under systemd, else nothing. */
  readonly accessPrefix: string;

  constructor(private readonly launch: ServerLaunch, readonly output: Output, bootLogger: AppLogger) {
    this.logger = bootLogger;
    this.accessPrefix = journalInfoPrefix(launch.journal === true);
    this.metrics = new Metrics({
      inFlight: () => this.#tracker?.inFlight ?? 0,
      streams: () => this.#tracker?.streams ?? 0,
      generation: () => this.snapshot?.generation ?? 0,
      cooldowns: () => this.snapshot?.credentials.health() ?? [],
      droppedLogLines: () => output.dropped,
    });
    this.usage = new UsageAccounting(this.metrics);
  }

  async start(loaded: LoadedConfig, generation: number, state: GatewayState | null): Promise<{ listen: ListenInfo; config: ConfigInfo }> {
    this.#useLogger(loaded);
    const shared = loaded.config.sharedState;
    if (shared !== undefined) {
      this.fleet = new Fleet(shared, { log: (level, message) => this.logger[level](message), outage: () => undefined }, () => this.snapshot?.credentials ?? null);
      this.metrics.registerSharedState(this.fleet.state);
      this.usage.shared = this.fleet.usage;
      await this.fleet.start();
    }
    readBudgetClock();
    this.snapshot = buildSnapshot(loaded, generation, null, this.fleet);
    if (state !== null) importGatewayState(this.snapshot, state);
    // What the other instances learnt before this one started (cooldowns, budget spend): read now that there is a snapshot.
    await this.fleet?.join(loaded.config);
    const config = loaded.config;
    const server = createServer({
      headersTimeout: config.server.headerTimeout,
      // Receiving a request (not answering it: streams run long) must not take forever; slow-body clients are cut.
      requestTimeout: 300_000,
      // Node enforces both timeouts only when it sweeps its connections (every 30 s by default), so a
      // slowloris client outlived a short header-timeout by up to 30 s.
      connectionsCheckingInterval: Math.min(Math.max(Math.floor(config.server.headerTimeout / 4), 100), 5_000),
      keepAliveTimeout: config.server.keepAliveTimeout,
    });
    this.#http = server;
    this.#tracker = new RequestTracker(server);
    server.on('request', createRequestHandler(this, this.#tracker));
    // A client that sends garbage gets its 4xx (431, 414, 408, 400) and a closed socket, never a crash.
    server.on('clientError', answerMalformed);
    this.usage.ledger = openLedger(config, this.snapshot.budgets.store, this.metrics, () => this.logger);
    // Budgets must know the spend before the first request: wait for the ledger's seed (bounded;
    // it takes milliseconds). Without budgets the file opens while the server starts.
    if (!this.snapshot.budgets.empty) await waitForSeed(this.usage.ledger);
    this.#listen = await listen(server, this.launch.listen);
    this.ready = true;
    return { listen: this.#listen, config: this.#configInfo() };
  }

  #configInfo(): ConfigInfo {
    const s = this.snapshot as Snapshot;
    return { generation: s.generation, hash: s.hash, path: s.path };
  }

  #useLogger(loaded: LoadedConfig): void {
    const { level, format } = loaded.config.log;
    this.logger = createLogger({ name: 'server', level, format, journal: this.launch.journal === true, write: (line) => this.output.line(line) });
  }

  async reload(source: ReloadSource, loaded: LoadedConfig): Promise<ReloadVerdict> {
    const verdict = this.#reload(source, loaded);
    this.metrics.reloads.inc({ source, outcome: verdict.ok ? 'applied' : 'rejected' });
    return verdict;
  }

  #reload(source: ReloadSource, loaded: LoadedConfig): ReloadVerdict {
    const current = this.snapshot as Snapshot;
    const at = new Date().toISOString();
    try {
      readBudgetClock();
      const before = current.config;
      const after = loaded.config;
      if (after.listen.host !== before.listen.host || after.listen.port !== before.listen.port) {
        throw new AppError('E_RELOAD_REJECTED', `the listen address cannot change on reload (${before.listen.host}:${before.listen.port} → ${after.listen.host}:${after.listen.port}); apply it with ai-proxy restart`);
      }
      if (JSON.stringify(after.sharedState) !== JSON.stringify(before.sharedState)) {
        throw new AppError('E_RELOAD_REJECTED', 'shared-state cannot change on reload (the connection to Redis is made at start); apply it with ai-proxy restart');
      }
      if (after.pidFile !== before.pidFile) {
        throw new AppError('E_RELOAD_REJECTED', 'pid-file cannot change while running; stop and start ai-proxy to apply it');
      }
      if (after.usage.ledger !== before.usage.ledger || after.usage.file !== before.usage.file || after.usage.retention !== before.usage.retention) {
        throw new AppError('E_RELOAD_REJECTED', 'usage.ledger, usage.file and usage.retention cannot change on reload (the ledger file is open); apply them with ai-proxy restart');
      }
      // The launcher opened the log file at start and owns it; only level and format follow a reload.
      const sinkKeys = { file: 'file', rotate: 'rotate', maxFiles: 'max-files', maxSize: 'max-size', compress: 'compress' } as const;
      const sinkChanged = (Object.keys(sinkKeys) as Array<keyof typeof sinkKeys>).filter((key) => before.log[key] !== after.log[key]);
      if (sinkChanged.length > 0) {
        throw new AppError('E_RELOAD_REJECTED', `${sinkChanged.map((key) => `log.${sinkKeys[key]}`).join(', ')} cannot change while running (the launcher owns the log file); stop and start ai-proxy to apply it`);
      }
      if (loaded.hash === current.hash) {
        return { ok: true, source, at, generation: current.generation, hash: current.hash, changed: [] };
      }
      const next = buildSnapshot(loaded, current.generation + 1, current);
      this.snapshot = next;
      // Its upstream pools close once the requests that started on it are done.
      current.upstreams.retire();
      if (after.log.level !== before.log.level || after.log.format !== before.log.format) this.#useLogger(loaded);
      this.#applyServerTimeouts(after.server);
      return { ok: true, source, at, generation: next.generation, hash: next.hash, changed: changedSections(before, after) };
    } catch (error) {
      return { ok: false, source, at, generation: current.generation, hash: current.hash, error: toErrorReport(error) };
    }
  }

  /**
   * Node reads these from the server at each use (the connection sweep, each response's end), so
   * a reload applies them to every connection from now on. The sweep's own interval was fixed at
   * start; it is at most 5 s, so a shorter header-timeout is enforced within that much slack.
   */
  #applyServerTimeouts(server: LoadedConfig['config']['server']): void {
    if (this.#http === null) return;
    this.#http.headersTimeout = server.headerTimeout;
    this.#http.keepAliveTimeout = server.keepAliveTimeout;
  }

  /** What a restart's new server must not forget: `full` when the restart begins, `delta` once drained. */
  exportState(kind: GatewayState['kind']): GatewayState {
    return exportGatewayState(this.snapshot, kind);
  }

  /** The old server's delta, after this one took over. */
  mergeState(state: GatewayState): void {
    if (this.snapshot !== null) importGatewayState(this.snapshot, state);
  }

  get drainReport(): DrainReport {
    return this.#tracker?.report ?? { finished: 0, streams: 0, cut: 0 };
  }

  get load(): { inFlight: number; streams: number } {
    return { inFlight: this.#tracker?.inFlight ?? 0, streams: this.#tracker?.streams ?? 0 };
  }

  async stop(options: ShutdownOptions, onDraining: (inFlight: number) => void): Promise<ShutdownResult> {
    this.ready = false;
    // A capture's answer is an open request: ended now, it does not hold the drain up.
    this.capture.closeAll('shutdown');
    const tracker = this.#tracker;
    if (tracker === null) return { forced: false };
    // Load balancers see /readyz fail and stop sending before the listener closes; a forced stop cuts the wait.
    if (options.delayMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.delayMs);
        this.#cutDelay = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#cutDelay = null;
    }
    // Stop accepting first: whoever hears "draining" may rely on new connections being refused.
    const drained = tracker.drain(options.timeoutMs, options.polite === true);
    onDraining(tracker.inFlight);
    const result = await drained;
    await Promise.all([this.snapshot?.upstreams.close(), this.usage.ledger?.close()]);
    await this.fleet?.close();
    return result;
  }

  force(): void {
    this.#cutDelay?.();
    this.#tracker?.force();
  }
}
