/**
 * Upstream keys per provider: which one to use next (round-robin, fill-first or smooth weighted
 * round-robin) and which are cooling down after a 429, an auth failure, a 5xx or a network error.
 *
 * A credential is identified by provider name + SHA-256 of its key, so a reload carries each
 * surviving key's health, counters and rotation position over, while a rotated key (new hash)
 * starts fresh. The key itself lives only in a private field of its `Credential`, the object that
 * injects it into the upstream request; ids, labels, snapshots and metrics never contain it.
 */
import { createHash } from 'node:crypto';
import type { Config, ProviderConfig } from '../../shared/config/schema.ts';
import { cooldownReason, type CooldownReason, type UpstreamOutcome } from './outcome.ts';
import { upstreamWaitMs } from './retry-after.ts';

export type Strategy = ProviderConfig['strategy'];

/** A 401/403 means a revoked or unauthorised key: no config knob yet, and minutes, not seconds. */
export const DEFAULT_AUTH_COOLDOWN_MS = 300_000;

export class Credential {
  /** `provider/` + the first 16 hex digits of the key's SHA-256; `provider/-` for a keyless provider. */
  readonly id: string;
  readonly provider: string;
  /** The configured name, else the masked key (`sk-...abcd`), else `#` + hash prefix. */
  readonly label: string;
  readonly weight: number;
  /** The provider takes no key (mock, a local Ollama): inject nothing. */
  readonly keyless: boolean;
  readonly #key: string;

  constructor(provider: string, key: string, name: string | undefined, weight: number) {
    this.provider = provider;
    this.keyless = key === '';
    this.weight = weight;
    if (this.keyless) {
      this.id = `${provider}/-`;
      this.label = name ?? '(no key)';
    } else {
      const hash = createHash('sha256').update(key).digest('hex');
      this.id = `${provider}/${hash.slice(0, 16)}`;
      this.label = name ?? maskKey(key, hash);
    }
    this.#key = key;
  }

  /** The key to send upstream; empty for a keyless provider. Never log it. */
  secret(): string {
    return this.#key;
  }

  toJSON(): object {
    return { id: this.id, provider: this.provider, label: this.label };
  }
}

/** Enough to tell keys apart in /admin, too little to use: first 3 and last 4 characters of a long key. */
export function maskKey(key: string, hash: string): string {
  return key.length >= 20 ? `${key.slice(0, 3)}...${key.slice(-4)}` : `#${hash.slice(0, 8)}`;
}

/** Per-credential health and counters: the part that survives a reload. */
interface Health {
  cooldownUntil: number;
  reason: CooldownReason | null;
  /** Smooth weighted round-robin's running weight. */
  currentWeight: number;
  picks: number;
  successes: number;
  failures: number;
  cooldowns: number;
  lastStatus: number | null;
}

interface Slot {
  readonly credential: Credential;
  readonly health: Health;
}

interface ProviderSlots {
  readonly name: string;
  readonly strategy: Strategy;
  readonly slots: readonly Slot[];
  /** Round-robin: index of the next slot to try. */
  cursor: number;
}

export type PickResult =
  | { readonly credential: Credential; readonly retryAt: null }
  /** `retryAt`: when the first cooling, non-excluded credential recovers; null when none will (none left, or unknown provider). */
  | { readonly credential: null; readonly retryAt: number | null };

export interface CredentialSnapshot {
  provider: string;
  credential: string;
  state: 'healthy' | 'cooling';
  reason: CooldownReason | null;
  cooldownRemainingMs: number;
  weight: number;
  picks: number;
  successes: number;
  failures: number;
  cooldowns: number;
  lastStatus: number | null;
}

/** A credential pool's state for a restart's hand-over (plain JSON). */
export interface CredentialState {
  credentials: Record<string, { cooldownUntil: number; reason: CooldownReason | null; lastStatus: number | null; currentWeight: number; picks: number; successes: number; failures: number; cooldowns: number }>;
  /** Per provider, the id of the credential round-robin tries next. */
  cursors: Record<string, string>;
}

export interface ProviderHealth {
  provider: string;
  credentials: number;
  cooling: number;
}

export interface CredentialPoolOptions {
  /** The pool of the previous config generation: its state carries over. */
  previous?: CredentialPool;
  now?: () => number;
  authCooldownMs?: number;
  /** Told of every cooldown this instance starts (the fleet's shared cooldowns); carried over by rebuild. */
  onCooldown?: CooldownListener;
}

/** A cooldown this instance started: credential id, its length in ms, why. */
export type CooldownListener = (id: string, ms: number, reason: CooldownReason) => void;

const NO_EXCLUSIONS: ReadonlySet<string> = new Set();
const NONE_LEFT: PickResult = Object.freeze({ credential: null, retryAt: null });

export class CredentialPool {
  readonly #providers = new Map<string, ProviderSlots>();
  readonly #slots = new Map<string, Slot>();
  readonly #now: () => number;
  readonly #cooldown: Config['cooldown'];
  readonly #authCooldownMs: number;
  readonly #onCooldown: CooldownListener | null;
  /** The counters at the last full export: a delta counts from them. */
  #exported: Map<string, Health> | null = null;

  constructor(config: Pick<Config, 'providers' | 'cooldown'>, options: CredentialPoolOptions = {}) {
    const previous = options.previous;
    const oldSlots = previous === undefined ? undefined : previous.#slots;
    const oldProviders = previous === undefined ? undefined : previous.#providers;
    this.#now = options.now ?? (previous === undefined ? Date.now : previous.#now);
    this.#cooldown = config.cooldown;
    this.#authCooldownMs = options.authCooldownMs ?? (previous === undefined ? DEFAULT_AUTH_COOLDOWN_MS : previous.#authCooldownMs);
    this.#onCooldown = options.onCooldown ?? (previous === undefined ? null : previous.#onCooldown);
    for (const pc of config.providers) {
      if (pc.disabled) continue;
      const slots: Slot[] = [];
      const entries = pc.apiKeys.length === 0 ? [''] : pc.apiKeys;
      for (const entry of entries) {
        const credential = typeof entry === 'string' ? new Credential(pc.name, entry, undefined, 1) : new Credential(pc.name, entry.key, entry.name, entry.weight);
        // The same key listed twice is one credential: keep the first mention.
        if (this.#slots.has(credential.id)) continue;
        // Sharing the health object (not copying it) keeps in-flight requests of the old
        // generation reporting into the state the new generation reads.
        const health = oldSlots?.get(credential.id)?.health ?? freshHealth();
        const slot = { credential, health };
        slots.push(slot);
        this.#slots.set(credential.id, slot);
      }
      const old = oldProviders?.get(pc.name);
      let cursor = 0;
      if (old !== undefined && old.slots.length > 0) {
        const nextId = old.slots[old.cursor % old.slots.length]?.credential.id;
        cursor = Math.max(0, slots.findIndex((s) => s.credential.id === nextId));
      }
      this.#providers.set(pc.name, { name: pc.name, strategy: pc.strategy, slots, cursor });
    }
  }

  /** The pool for a new config generation, carrying over this one's state. */
  rebuild(config: Pick<Config, 'providers' | 'cooldown'>): CredentialPool {
    return new CredentialPool(config, { previous: this });
  }

  /** The next healthy credential of `provider` not in `exclude`, per the provider's strategy. */
  pick(provider: string, exclude: ReadonlySet<string> = NO_EXCLUSIONS): PickResult {
    const p = this.#providers.get(provider);
    if (p === undefined) return NONE_LEFT;
    const now = this.#now();
    const slots = p.slots;
    let chosen: Slot | undefined;
    if (p.strategy === 'weighted') {
      // Smooth weighted round-robin (nginx): deterministic, and spreads a heavy key's turns
      // between the others instead of bunching them.
      let total = 0;
      for (const s of slots) {
        if (!available(s, exclude, now)) continue;
        s.health.currentWeight += s.credential.weight;
        total += s.credential.weight;
        if (chosen === undefined || s.health.currentWeight > chosen.health.currentWeight) chosen = s;
      }
      if (chosen !== undefined) chosen.health.currentWeight -= total;
    } else {
      const start = p.strategy === 'round-robin' ? p.cursor : 0;
      for (let i = 0; i < slots.length; i++) {
        const index = (start + i) % slots.length;
        const s = slots[index] as Slot;
        if (!available(s, exclude, now)) continue;
        chosen = s;
        if (p.strategy === 'round-robin') p.cursor = (index + 1) % slots.length;
        break;
      }
    }
    if (chosen !== undefined) {
      chosen.health.picks++;
      return { credential: chosen.credential, retryAt: null };
    }
    let retryAt: number | null = null;
    for (const s of slots) {
      if (exclude.has(s.credential.id)) continue;
      if (retryAt === null || s.health.cooldownUntil < retryAt) retryAt = s.health.cooldownUntil;
    }
    return retryAt === null ? NONE_LEFT : { credential: null, retryAt };
  }

  /**
   * Records an attempt's outcome: counters, and the cooldown it earns. A 429 waits as long as the
   * upstream asked (else `cooldown.rate-limit`); a 5xx honours Retry-After too. A success clears a
   * server or network cooldown (the upstream evidently works again) but not a rate-limit or auth
   * one, which a request started before the 429 may outlive.
   */
  report(credential: Credential, outcome: UpstreamOutcome): void {
    const slot = this.#slots.get(credential.id);
    if (slot === undefined) return; // removed by a reload while the request ran
    const h = slot.health;
    if (outcome.kind === 'http') h.lastStatus = outcome.status;
    const reason = cooldownReason(outcome);
    const now = this.#now();
    if (reason === null) {
      if (outcome.kind === 'success' || (outcome.kind === 'http' && outcome.status < 400)) {
        h.successes++;
        if (h.reason === 'server-error' || h.reason === 'network-error') {
          h.cooldownUntil = 0;
          h.reason = null;
        }
      } else {
        h.failures++; // the request's fault, not the key's
      }
      return;
    }
    h.failures++;
    let ms: number;
    switch (reason) {
      case 'rate-limit':
        ms = (outcome.kind === 'http' ? upstreamWaitMs(outcome.headers, outcome.body, now) : null) ?? this.#cooldown.rateLimit;
        break;
      case 'auth':
        ms = this.#authCooldownMs;
        break;
      case 'server-error':
        ms = (outcome.kind === 'http' && outcome.status === 503 ? upstreamWaitMs(outcome.headers, undefined, now) : null) ?? this.#cooldown.serverError;
        break;
      case 'network-error':
        ms = this.#cooldown.networkError;
        break;
    }
    const until = now + ms;
    if (ms <= 0 || until <= h.cooldownUntil) return; // a longer cooldown already runs
    h.cooldownUntil = until;
    h.reason = reason;
    h.cooldowns++;
    this.#onCooldown?.(credential.id, ms, reason);
  }

  /**
   * A cooldown another instance started (read from the shared state): `remainingMs` from now.
   * Not counted in this instance's counters, and not told to `onCooldown` (it came from there).
   */
  coolFromPeer(id: string, remainingMs: number, reason: CooldownReason): void {
    const h = this.#slots.get(id)?.health;
    if (h === undefined || !(remainingMs > 0)) return;
    const until = this.#now() + remainingMs;
    if (until <= h.cooldownUntil) return;
    h.cooldownUntil = until;
    h.reason = reason;
  }

  /** Every credential id, for re-reading the shared cooldowns. */
  ids(): IterableIterator<string> {
    return this.#slots.keys();
  }

  /** For /admin/credentials: never the key, only the label. */
  snapshot(): CredentialSnapshot[] {
    const now = this.#now();
    const out: CredentialSnapshot[] = [];
    for (const p of this.#providers.values()) {
      for (const { credential, health: h } of p.slots) {
        const cooling = h.cooldownUntil > now;
        out.push({
          provider: p.name,
          credential: credential.label,
          state: cooling ? 'cooling' : 'healthy',
          reason: cooling ? h.reason : null,
          cooldownRemainingMs: cooling ? h.cooldownUntil - now : 0,
          weight: credential.weight,
          picks: h.picks,
          successes: h.successes,
          failures: h.failures,
          cooldowns: h.cooldowns,
          lastStatus: h.lastStatus,
        });
      }
    }
    return out;
  }

  /**
   * What a restart's new server must not forget (DESIGN §1, docs/operations.md "Restarts"): each
   * credential's health by id (provider + key hash, never the key), each provider's rotation
   * position. `full` is taken when the restart begins and remembered as the base of the `delta`
   * the old server sends once drained: cooldowns it earned meanwhile, counters added since.
   */
  exportState(kind: 'full' | 'delta'): CredentialState {
    const credentials: CredentialState['credentials'] = {};
    for (const [id, { health: h }] of this.#slots) {
      const base = kind === 'delta' ? this.#exported?.get(id) : undefined;
      credentials[id] = {
        cooldownUntil: h.cooldownUntil,
        reason: h.reason,
        lastStatus: h.lastStatus,
        currentWeight: h.currentWeight,
        picks: h.picks - (base?.picks ?? 0),
        successes: h.successes - (base?.successes ?? 0),
        failures: h.failures - (base?.failures ?? 0),
        cooldowns: h.cooldowns - (base?.cooldowns ?? 0),
      };
    }
    if (kind === 'full') this.#exported = new Map([...this.#slots].map(([id, { health }]) => [id, { ...health }]));
    const cursors: Record<string, string> = {};
    for (const p of this.#providers.values()) {
      const next = p.slots[p.cursor % Math.max(p.slots.length, 1)];
      if (next !== undefined) cursors[p.name] = next.credential.id;
    }
    return { credentials, cursors };
  }

  /** A full state replaces a fresh pool's; a delta adds what the old server counted after it. Unknown ids are ignored: the config changed. */
  importState(state: CredentialState, kind: 'full' | 'delta'): void {
    for (const [id, saved] of Object.entries(state.credentials)) {
      const h = this.#slots.get(id)?.health;
      if (h === undefined) continue;
      if (saved.cooldownUntil > h.cooldownUntil) {
        h.cooldownUntil = saved.cooldownUntil;
        h.reason = saved.reason;
      }
      if (kind === 'full') {
        h.currentWeight = saved.currentWeight;
        h.lastStatus = saved.lastStatus;
      }
      h.picks += saved.picks;
      h.successes += saved.successes;
      h.failures += saved.failures;
      h.cooldowns += saved.cooldowns;
    }
    if (kind !== 'full') return;
    for (const [name, nextId] of Object.entries(state.cursors)) {
      const p = this.#providers.get(name);
      const index = p?.slots.findIndex((slot) => slot.credential.id === nextId) ?? -1;
      if (p !== undefined && index >= 0) p.cursor = index;
    }
  }

  /** Per provider, credentials and how many are cooling: for a prom-client gauge's `collect()`. */
  health(): ProviderHealth[] {
    const now = this.#now();
    const out: ProviderHealth[] = [];
    for (const p of this.#providers.values()) {
      let cooling = 0;
      for (const s of p.slots) if (s.health.cooldownUntil > now) cooling++;
      out.push({ provider: p.name, credentials: p.slots.length, cooling });
    }
    return out;
  }
}

function available(s: Slot, exclude: ReadonlySet<string>, now: number): boolean {
  return s.health.cooldownUntil <= now && !exclude.has(s.credential.id);
}

function freshHealth(): Health {
  return { cooldownUntil: 0, reason: null, currentWeight: 0, picks: 0, successes: 0, failures: 0, cooldowns: 0, lastStatus: null };
}
