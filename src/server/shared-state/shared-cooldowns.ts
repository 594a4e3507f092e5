/**
 * Upstream-key cooldowns for the whole fleet. A cooldown one instance starts (a 429, a 5xx, a
 * network error, Retry-After honoured) becomes a Redis key with that TTL, `<prefix>cooldown:<id>`
 * (id: provider + 16 hex digits of the key's SHA-256, never the key), and a message on
 * `<prefix>cooldowns` naming the id. The message only says "look": the others read the key's
 * remaining TTL (Redis's clock, so no skew) and cool the key for that long. An instance that was
 * away when the message went out reads every key of its credentials when Redis is back.
 */
import type { Redis } from 'ioredis';
import type { CooldownReason } from '../routing/outcome.ts';
import type { CredentialPool } from '../routing/credentials.ts';
import type { SharedState } from './shared-state.ts';

const CHANNEL = 'cooldowns';

/** KEYS: the cooldown key. ARGV: ms, reason, id, channel. Extends, never shortens, a cooldown. */
const COOL = `
local left = redis.call('PTTL', KEYS[1])
if left >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[3])
return 1
`;

interface CoolCommands {
  aiProxyCool(key: string, ms: number, reason: string, id: string, channel: string): Promise<number>;
}

const reasons: ReadonlySet<string> = new Set<CooldownReason>(['rate-limit', 'auth', 'server-error', 'network-error']);

export class SharedCooldowns {
  readonly #shared: SharedState;
  readonly #pool: () => CredentialPool | null;
  /** Cooldowns read from Redis and applied, since start (for the "back" log line and tests). */
  applied = 0;

  constructor(shared: SharedState, pool: () => CredentialPool | null) {
    this.#shared = shared;
    this.#pool = pool;
    shared.redis.defineCommand('aiProxyCool', { numberOfKeys: 1, lua: COOL });
    shared.subscribe(CHANNEL, (id) => {
      if (shared.up) void this.#read([id]);
    });
    shared.onUp(() => this.resync());
  }

  /** The pool's listener: publish a cooldown this instance started. Not awaited by the request. */
  readonly started = (id: string, ms: number, reason: CooldownReason): void => {
    if (!this.#shared.up) return;
    const ms_ = Math.ceil(ms);
    (this.#shared.redis as unknown as CoolCommands).aiProxyCool(this.#key(id), ms_, reason, id, this.#shared.prefix + CHANNEL).catch((error: unknown) => this.#shared.failed(error));
  };

  /** Reads the cooldown of every credential of the current pool (a bounded list: the config's keys). */
  async resync(): Promise<void> {
    const pool = this.#pool();
    if (pool === null) return;
    await this.#read([...pool.ids()]);
  }

  async #read(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const redis: Redis = this.#shared.redis;
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.pttl(this.#key(id)).get(this.#key(id));
    let replies: Array<[Error | null, unknown]> | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      this.#shared.failed(error);
      return;
    }
    const pool = this.#pool();
    if (replies === null || pool === null) return;
    ids.forEach((id, i) => {
      const [ttlError, ttl] = replies[2 * i] ?? [null, -2];
      const [, reason] = replies[2 * i + 1] ?? [null, null];
      if (ttlError !== null || typeof ttl !== 'number' || ttl <= 0 || typeof reason !== 'string' || !reasons.has(reason)) return;
      pool.coolFromPeer(id, ttl, reason as CooldownReason);
      this.applied++;
    });
  }

  #key(id: string): string {
    return `${this.#shared.prefix}cooldown:${id}`;
  }
}
