/**
 * The connection to the fleet's Redis (DESIGN §11) and whether it may be used right now.
 *
 * Two ioredis connections: one for commands, one subscribed to the fleet's channels. Neither
 * queues a command while disconnected (`enableOfflineQueue: false`, `maxRetriesPerRequest: 0`)
 * and every command gives up after `command-timeout`, so a request never waits on Redis longer
 * than that. A closed connection (Redis killed, network cut) and a command that timed out (Redis
 * hung: a stopped process keeps its port and lets the kernel accept bytes, so only a timeout
 * tells) both make Redis *away*: one log line, one count, and from then on callers use their
 * local state without asking Redis at all. A probe (PING, with backoff) finds it back; the
 * listeners registered with `onUp` then re-read what Redis holds.
 */
import { Redis, type RedisOptions } from 'ioredis';

export interface SharedStateSettings {
  redis: string;
  prefix: string;
  required: boolean;
  commandTimeout: number;
  connectTimeout: number;
}

export type SharedStatus = 'connecting' | 'up' | 'away';

export interface SharedStateEvents {
  /** One line per change of status (never the URL's password). */
  log(level: 'info' | 'warn', message: string): void;
  /** Redis went away (an outage begins). */
  outage(): void;
}

/** Probes while Redis is away: first after this, doubling up to the max. */
const PROBE_MIN_MS = 250;
const PROBE_MAX_MS = 5_000;

export class SharedState {
  readonly prefix: string;
  readonly settings: SharedStateSettings;
  /** For commands. Use only while `up`; report failures with `failed()`. */
  readonly redis: Redis;
  readonly #sub: Redis;
  readonly #events: SharedStateEvents;
  /** host:port, for log lines: the URL may carry a password. */
  readonly where: string;
  #status: SharedStatus = 'connecting';
  #probeTimer: NodeJS.Timeout | null = null;
  #probeDelay = PROBE_MIN_MS;
  #probing: Promise<boolean> | null = null;
  #closed = false;
  #lastError = '';
  readonly #upListeners: Array<() => Promise<void> | void> = [];
  readonly #channels = new Map<string, (message: string) => void>();
  /** Requests decided on local state because Redis was away, since start. */
  localDecisions = 0;
  outages = 0;

  constructor(settings: SharedStateSettings, events: SharedStateEvents) {
    this.settings = settings;
    this.prefix = settings.prefix;
    this.#events = events;
    const url = new URL(settings.redis);
    this.where = `${url.hostname}:${url.port === '' ? '6379' : url.port}`;
    const options: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: settings.commandTimeout,
      connectTimeout: settings.connectTimeout,
      // The limiter batches its own checks (one command per event-loop turn); the rest is rare.
      enableAutoPipelining: false,
      // Reconnect with backoff and jitter, for ever: an instance may outlive a long outage.
      retryStrategy: (times) => Math.min(PROBE_MAX_MS, 100 * 2 ** Math.min(times, 6)) * (0.5 + Math.random() / 2),
      // The ready check sends INFO and waits: against a stopped Redis the connection would sit in
      // "connecting" until connect-timeout, which is what we want.
      enableReadyCheck: true,
    };
    this.redis = new Redis(settings.redis, { ...options, connectionName: 'ai-proxy' });
    this.#sub = new Redis(settings.redis, { ...options, connectionName: 'ai-proxy-sub', commandTimeout: undefined });
    for (const conn of [this.redis, this.#sub]) {
      // Without a listener ioredis prints every connection error to stderr.
      conn.on('error', (error: Error) => (this.#lastError = describe(error)));
    }
    this.redis.on('close', () => this.#away(this.#lastError === '' ? 'connection closed' : this.#lastError));
    this.redis.on('ready', () => this.#probeNow());
    this.#sub.on('message', (channel: string, message: string) => this.#channels.get(channel)?.(message));
    // ioredis re-subscribes on its own after a reconnect; what was published meanwhile is lost,
    // so the listeners re-read the keys (pub/sub only says "look").
    this.#sub.on('ready', () => {
      // Subscribed here, not when asked: without an offline queue a SUBSCRIBE sent before the
      // connection is ready fails.
      if (this.#channels.size > 0) void this.#sub.subscribe(...this.#channels.keys()).catch((error: unknown) => (this.#lastError = describe(error)));
      if (this.#status === 'up') void this.#runUpListeners();
    });
  }

  get status(): SharedStatus {
    return this.#status;
  }

  /** Why Redis last failed (no URL, no password). */
  get lastError(): string {
    return this.#lastError;
  }

  /** True when requests may ask Redis. */
  get up(): boolean {
    return this.#status === 'up';
  }

  /**
   * Connects, waiting at most `connect-timeout`. False: Redis did not answer in time; the
   * connections keep trying in the background and the instance joins when it does.
   */
  async start(): Promise<boolean> {
    const connect = (conn: Redis): Promise<void> => conn.connect().catch(() => undefined);
    void connect(this.#sub);
    const answered = await Promise.race([
      connect(this.redis).then(() => this.#probe()),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), this.settings.connectTimeout).unref()),
    ]);
    if (!answered) {
      this.#away(this.#lastError === '' ? `no answer within ${this.settings.connectTimeout} ms` : this.#lastError, true);
      return false;
    }
    return true;
  }

  /** A command failed or timed out: Redis is away until a probe finds it back. */
  failed(error: unknown): void {
    this.#away(describe(error));
  }

  /** Called when Redis is back (and after the subscriber reconnected): re-read what it holds. */
  onUp(listener: () => Promise<void> | void): void {
    this.#upListeners.push(listener);
  }

  /** Subscribes to `prefix + name`; `listener` gets each message. */
  subscribe(name: string, listener: (message: string) => void): void {
    const channel = this.prefix + name;
    this.#channels.set(channel, listener);
    if (this.#sub.status === 'ready') void this.#sub.subscribe(channel).catch((error: unknown) => (this.#lastError = describe(error)));
  }

  /** Resolves once both connections have ended (at most 1 s): nothing of them is left in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#probeTimer !== null) clearTimeout(this.#probeTimer);
    const ended = [this.redis, this.#sub].map(
      (conn) =>
        new Promise<void>((resolve) => {
          if (conn.status === 'end') return resolve();
          const timer = setTimeout(resolve, 1_000);
          timer.unref();
          conn.once('end', () => {
            clearTimeout(timer);
            resolve();
          });
        }),
    );
    this.redis.disconnect();
    this.#sub.disconnect();
    await Promise.all(ended);
  }

  #away(reason: string, atStart = false): void {
    if (this.#closed) return;
    if (this.#status !== 'away') {
      const was = this.#status;
      this.#status = 'away';
      this.outages++;
      this.#events.outage();
      this.#events.log(
        'warn',
        atStart || was === 'connecting'
          ? `shared state: Redis at ${this.where} is unreachable (${reason}); serving on this instance's own limits, cooldowns and budgets until it answers`
          : `shared state: Redis at ${this.where} is away (${reason}); serving on this instance's own limits, cooldowns and budgets until it answers`,
      );
    }
    this.#scheduleProbe();
  }

  #scheduleProbe(): void {
    if (this.#closed || this.#probeTimer !== null) return;
    const delay = this.#probeDelay;
    this.#probeDelay = Math.min(PROBE_MAX_MS, this.#probeDelay * 2);
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = null;
      void this.#probe().then((ok) => {
        if (!ok) this.#scheduleProbe();
      });
    }, delay);
    this.#probeTimer.unref();
  }

  #probeNow(): void {
    if (this.#status === 'up' || this.#closed) return;
    if (this.#probeTimer !== null) {
      clearTimeout(this.#probeTimer);
      this.#probeTimer = null;
    }
    void this.#probe().then((ok) => {
      if (!ok) this.#scheduleProbe();
    });
  }

  /** One PING (one at a time: callers share the one in flight); on an answer Redis is up again and the listeners re-sync. */
  #probe(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    this.#probing ??= this.#ping().finally(() => (this.#probing = null));
    return this.#probing;
  }

  async #ping(): Promise<boolean> {
    try {
      await this.redis.ping();
    } catch (error) {
      this.#lastError = describe(error);
      return false;
    }
    if (this.#status === 'up') return true;
    const was = this.#status;
    this.#status = 'up';
    this.#probeDelay = PROBE_MIN_MS;
    await this.#runUpListeners();
    this.#events.log('info', was === 'connecting' ? `shared state: using Redis at ${this.where} (prefix ${this.prefix})` : `shared state: Redis at ${this.where} is back; shared limits, cooldowns and budgets apply again (re-synced)`);
    return true;
  }

  async #runUpListeners(): Promise<void> {
    for (const listener of this.#upListeners) {
      try {
        await listener();
      } catch (error) {
        this.#lastError = describe(error);
      }
    }
  }
}

/** An error's message without anything from the URL (ioredis messages name host:port, never the password). */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/redis(s)?:\/\/[^\s]*/g, 'redis://…').slice(0, 200);
}
