/**
 * An undici dispatcher for one provider: a keep-alive pool with its timeouts (connect, first
 * byte = headersTimeout, idle between chunks = bodyTimeout), its concurrency cap and its
 * outbound proxy: the provider's own `proxy`, else the one HTTPS_PROXY / HTTP_PROXY name
 * (NO_PROXY excepted), read by undici's EnvHttpProxyAgent, else none.
 */
import { Agent, EnvHttpProxyAgent, ProxyAgent, type Dispatcher } from 'undici';
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
  if (provider.proxy !== undefined) return new ProxyAgent({ uri: provider.proxy, ...options });
  // EnvHttpProxyAgent parses the origin's URL and reads NO_PROXY from the environment on every
  // request (about 1 µs here); without a proxy variable it would route everything to a plain
  // Agent anyway, so that is what we create, and the check runs once per pool, not per request.
  return proxyInEnvironment(process.env) ? new EnvHttpProxyAgent(options) : new Agent(options);
}

/**
 * Whether EnvHttpProxyAgent would proxy anything: it reads the lowercase name first (so an empty
 * `http_proxy` hides `HTTP_PROXY`), takes an empty value as none, and sends https:// upstreams
 * to HTTP_PROXY when HTTPS_PROXY is unset. NO_PROXY alone proxies nothing.
 */
export function proxyInEnvironment(env: NodeJS.ProcessEnv): boolean {
  const http = env.http_proxy ?? env.HTTP_PROXY;
  const https = env.https_proxy ?? env.HTTPS_PROXY;
  return (http !== undefined && http !== '') || (https !== undefined && https !== '');
}
