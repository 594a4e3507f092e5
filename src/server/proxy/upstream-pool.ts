/**
 * One undici dispatcher per provider: a keep-alive connection pool with the provider's timeouts
 * (connect, first byte = headersTimeout, idle between chunks = bodyTimeout) and its optional
 * outbound proxy. Pools are reused across reloads when their settings did not change, so a
 * reload does not throw away warm upstream connections; replaced pools close once idle.
 */
import { Agent, ProxyAgent, type Dispatcher } from 'undici';
import type { ProviderConfig } from '../../shared/config/schema.ts';

interface Entry {
  readonly signature: string;
  readonly dispatcher: Dispatcher;
}

export class UpstreamPool {
  private constructor(private readonly entries: ReadonlyMap<string, Entry>) {}

  static build(providers: readonly ProviderConfig[], previous: UpstreamPool | null): UpstreamPool {
    const entries = new Map<string, Entry>();
    for (const provider of providers) {
      if (provider.type === 'mock') continue;
      const signature = JSON.stringify([provider.timeouts, provider.proxy ?? null]);
      const old = previous?.entries.get(provider.name);
      entries.set(provider.name, old !== undefined && old.signature === signature ? old : { signature, dispatcher: createDispatcher(provider) });
    }
    if (previous !== null) {
      for (const [name, old] of previous.entries) {
        // close() lets requests in flight on the old generation finish first.
        if (entries.get(name) !== old) void old.dispatcher.close().catch(() => undefined);
      }
    }
    return new UpstreamPool(entries);
  }

  dispatcher(provider: string): Dispatcher | undefined {
    return this.entries.get(provider)?.dispatcher;
  }

  async close(): Promise<void> {
    await Promise.all([...this.entries.values()].map((entry) => entry.dispatcher.destroy().catch(() => undefined)));
  }
}

function createDispatcher(provider: ProviderConfig): Dispatcher {
  const { connect, firstByte, idle } = provider.timeouts;
  const options = {
    connect: { timeout: connect },
    headersTimeout: firstByte,
    bodyTimeout: idle,
    keepAliveTimeout: 30_000,
    connections: provider.maxConcurrent > 0 ? provider.maxConcurrent : null,
  };
  return provider.proxy !== undefined ? new ProxyAgent({ uri: provider.proxy, ...options }) : new Agent(options);
}
