/**
 * One undici dispatcher per provider: a keep-alive connection pool with the provider's timeouts
 * (connect, first byte = headersTimeout, idle between chunks = bodyTimeout) and its optional
 * outbound proxy (its own, or the environment's, which cannot change while the server runs). Pools are reused across reloads when their settings did not change, so a
 * reload does not throw away warm upstream connections. A replaced pool is closed only once no
 * generation that uses it is current or still serving a request: a request that started on the
 * old generation and has not dispatched yet (its body still arriving) must find its pool open.
 * Dispatchers are created on first use, by the request path, which is what loads undici: a
 * gateway start does not pay for the HTTP client before it serves (see docs/decisions.md).
 */
import type { Dispatcher } from 'undici';
import type { ProviderConfig } from '../../shared/config/schema.ts';
import { descriptorOf } from '../providers/registry.ts';

interface Entry {
  readonly signature: string;
  readonly provider: ProviderConfig;
  dispatcher: Dispatcher | null;
  /** Generations (UpstreamPools) holding this dispatcher that are current or still leased. */
  refs: number;
}

export class UpstreamPool {
  #leases = 0;
  #retired = false;
  #released = false;

  private constructor(private readonly entries: ReadonlyMap<string, Entry>) {}

  static build(providers: readonly ProviderConfig[], previous: UpstreamPool | null): UpstreamPool {
    const entries = new Map<string, Entry>();
    for (const provider of providers) {
      // A provider served in-process (the mock) has no connections to pool.
      if (descriptorOf(provider.type).serveLocally !== null) continue;
      const signature = JSON.stringify([provider.timeouts, provider.proxy ?? null]);
      const old = previous?.entries.get(provider.name);
      const entry = old !== undefined && old.signature === signature ? old : { signature, provider, dispatcher: null, refs: 0 };
      entry.refs++;
      entries.set(provider.name, entry);
    }
    return new UpstreamPool(entries);
  }

  /** Held by a request for its whole life; the returned function ends the lease (idempotent). */
  lease(): () => void {
    this.#leases++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#leases--;
      this.#releaseIfUnused();
    };
  }

  /** A newer generation replaced this one: close its dispatchers that no other generation uses, once its requests are done. */
  retire(): void {
    this.#retired = true;
    this.#releaseIfUnused();
  }

  #releaseIfUnused(): void {
    if (!this.#retired || this.#leases > 0 || this.#released) return;
    this.#released = true;
    for (const entry of this.entries.values()) {
      // close() still lets requests already dispatched on it finish.
      if (--entry.refs === 0) void entry.dispatcher?.close().catch(() => undefined);
    }
  }

  dispatcher(provider: string, create: (config: ProviderConfig) => Dispatcher): Dispatcher | undefined {
    const entry = this.entries.get(provider);
    if (entry === undefined) return undefined;
    entry.dispatcher ??= create(entry.provider);
    return entry.dispatcher;
  }

  async close(): Promise<void> {
    await Promise.all([...this.entries.values()].map((entry) => entry.dispatcher?.destroy().catch(() => undefined)));
  }
}
