/**
 * An undici dispatcher for one provider: a keep-alive pool with its timeouts (connect, first
 * byte = headersTimeout, idle between chunks = bodyTimeout), its concurrency cap and its
 * optional outbound proxy.
 */
import { Agent, ProxyAgent, type Dispatcher } from 'undici';
import type { ProviderConfig } from '../../shared/config/schema.ts';

export function createDispatcher(provider: ProviderConfig): Dispatcher {
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
