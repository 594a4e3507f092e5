/**
 * An undici dispatcher for one provider: a keep-alive pool with its timeouts (connect, first
 * byte = headersTimeout, idle between chunks = bodyTimeout), its concurrency cap and its
 * outbound proxy: the provider's own `proxy`, else the one HTTPS_PROXY / HTTP_PROXY name
 * (NO_PROXY excepted), read by undici's EnvHttpProxyAgent, else none.
 */
import { Agent, EnvHttpProxyAgent, Pool, ProxyAgent, type Dispatcher } from 'undici';
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
  // EnvHttpProxyAgent parses the origin's URL and reads NO_PROXY from the environment on every
  // request (about 1 µs here); without a proxy variable it would route everything to a plain
  // Agent anyway, so that is what we create, and the check runs once per pool, not per request.
  if (provider.proxy === undefined && !proxyInEnvironment(process.env)) return new Agent(options);
  // ProxyAgent replaces `connect` with its own tunnel opener, so the connect timeout above bounds
  // none of it: the TCP connect to the proxy and the TLS handshake through the tunnel take theirs
  // from proxyTls / requestTls (undici's default 10 s), and the proxy's answer to CONNECT waits
  // for the proxy client's headersTimeout (default 300 s, during which aborting the request does
  // not end it: a client gone, its pool slot stays taken). All three are the connection's opening.
  const proxied = {
    ...options,
    proxyTls: { timeout: connect },
    requestTls: { timeout: connect },
    clientFactory: (origin: URL, opts: object): Dispatcher => new Pool(origin, { ...opts, headersTimeout: connect }),
  };
  return provider.proxy !== undefined ? new ProxyAgent({ uri: provider.proxy, ...proxied }) : new EnvHttpProxyAgent(proxied);
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
