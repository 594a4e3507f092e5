/**
 * Outbound proxies from the environment, through the real daemon: with HTTP_PROXY (or
 * http_proxy) in the gateway's environment, upstream calls reach the upstream through a real
 * forward proxy on 127.0.0.1 (credentials in the variable's URL become Proxy-Authorization, and
 * never reach the log); NO_PROXY, by host or by host:port, sends them direct; HTTPS_PROXY alone
 * leaves http:// upstreams direct; a provider's own `proxy` wins over the environment. The
 * variables reach the server because the launcher passes its environment on (only the sd_notify
 * ones are removed).
 *
 * What undici sends through a proxy to an http:// origin: a CONNECT tunnel, not an absolute-form
 * request (ProxyAgent's `proxyTunnel` defaults to true). The test proxy takes both, and the first
 * subtest shows it forwards absolute-form requests, so `forwarded` staying empty is a finding.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { post } from '../helpers/cli.ts';
import { fakeProxy, fakeUpstream, openaiLike, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { assertNoSecrets, expectJson, startGateway, type RunningGateway } from './gateway-harness.ts';

const PROXY_USER = 'gateway-user';
const PROXY_PASSWORD = 'pr0xy-p@ss-5b1e9d';

const hostOf = (upstream: FakeUpstream): string => new URL(upstream.url).host;

/** Providers `name` → upstream, each serving the model `model-<name>`; `proxy` sets a provider's own, `extra` adds keys. */
function yaml(providers: Array<{ name: string; upstream: FakeUpstream; proxy?: { url: string }; extra?: string }>): string {
  const entries = providers.map(
    (p) => `  - { name: ${p.name}, type: openai-compatible, base-url: "${p.upstream.url}/v1", api-keys: [upstream-key], models: [model-${p.name}]${p.proxy === undefined ? '' : `, proxy: "${p.proxy.url}"`}${p.extra === undefined ? '' : `, ${p.extra}`} }`,
  );
  return `listen: { host: 127.0.0.1, port: 0 }\nshutdown-timeout: 5s\nproviders:\n${entries.join('\n')}\n`;
}

/** One chat completion for `model-<name>`; the upstream must have received exactly one more request. */
async function ask(gateway: RunningGateway, name: string, upstream: FakeUpstream): Promise<void> {
  const before = upstream.requests.length;
  const body = await expectJson(await post(`${gateway.url}/v1/chat/completions`, { model: `model-${name}`, messages: [{ role: 'user', content: `to ${name}` }] }), 200);
  assert.equal((body.choices as Array<{ message: { content: string } }>)[0]?.message.content, 'Hello from the fake OpenAI.');
  assert.equal(upstream.requests.length, before + 1, `${name}'s upstream got the request`);
  assert.equal(upstream.requests[before]?.headers['proxy-authorization'], undefined, 'proxy credentials stay with the proxy');
}

/** A proxy that accepts connections and never answers (a hung proxy, a firewall that swallows CONNECT). */
async function blackHoleProxy(t: TestContext): Promise<{ url: string; connections: () => number }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createTcpServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections };
}

test('gateway: upstream calls honour HTTP_PROXY, HTTPS_PROXY and NO_PROXY; a provider\'s proxy wins', async (t) => {
  await t.test('the test proxy forwards absolute-form requests, so it would see them if undici sent those', async (tt) => {
    const proxy = await fakeProxy(tt);
    const upstream = await fakeUpstream(tt, openaiLike());
    const target = `${upstream.url}/v1/chat/completions`;
    const status = await new Promise<number>((resolve, reject) => {
      const { port } = new URL(proxy.url);
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: target, agent: false, headers: { 'content-type': 'application/json' }, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('timeout', () => req.destroy(new Error('no answer through the proxy within 10 s')));
      req.on('error', reject);
      req.end(JSON.stringify({ model: 'm', messages: [] }));
    });
    assert.equal(status, 200);
    assert.deepEqual(proxy.forwarded, [`POST ${target}`]);
    assert.equal(upstream.requests.length, 1);
  });

  await t.test('HTTP_PROXY carries a provider without its own proxy, as a CONNECT tunnel with the URL\'s credentials; a provider\'s proxy wins', async (tt) => {
    const envProxy = await fakeProxy(tt);
    const ownProxy = await fakeProxy(tt);
    const viaEnv = await fakeUpstream(tt, openaiLike());
    const viaOwn = await fakeUpstream(tt, openaiLike());
    const proxyUrl = new URL(envProxy.url);
    proxyUrl.username = PROXY_USER;
    proxyUrl.password = encodeURIComponent(PROXY_PASSWORD);
    const gateway = await startGateway(tt, yaml([{ name: 'env', upstream: viaEnv }, { name: 'own', upstream: viaOwn, proxy: ownProxy }]), { HTTP_PROXY: proxyUrl.href });
    await ask(gateway, 'env', viaEnv);
    await ask(gateway, 'own', viaOwn);
    assert.deepEqual(envProxy.tunnels, [hostOf(viaEnv)], 'the environment\'s proxy tunnelled to the first upstream only');
    assert.deepEqual(envProxy.forwarded, [], 'undici tunnels with CONNECT to an http:// origin');
    assert.deepEqual(envProxy.authorizations, [`Basic ${Buffer.from(`${PROXY_USER}:${PROXY_PASSWORD}`).toString('base64')}`]);
    assert.deepEqual(ownProxy.tunnels, [hostOf(viaOwn)], 'the provider\'s own proxy carried its upstream');
    const stopped = await gateway.stop();
    assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
    assertNoSecrets({ 'the log file': gateway.log() }, [PROXY_PASSWORD, encodeURIComponent(PROXY_PASSWORD)]);
  });

  await t.test('http_proxy (lowercase) with NO_PROXY=host:port: that upstream goes direct, another through the proxy', async (tt) => {
    const proxy = await fakeProxy(tt);
    const bypassed = await fakeUpstream(tt, openaiLike());
    const proxied = await fakeUpstream(tt, openaiLike());
    const gateway = await startGateway(tt, yaml([{ name: 'bypassed', upstream: bypassed }, { name: 'proxied', upstream: proxied }]), { http_proxy: proxy.url, NO_PROXY: hostOf(bypassed) });
    await ask(gateway, 'bypassed', bypassed);
    await ask(gateway, 'proxied', proxied);
    assert.deepEqual(proxy.tunnels, [hostOf(proxied)]);
    assert.deepEqual(proxy.forwarded, []);
  });

  await t.test('no_proxy=127.0.0.1 (the host, any port) sends every upstream direct', async (tt) => {
    const proxy = await fakeProxy(tt);
    const first = await fakeUpstream(tt, openaiLike());
    const second = await fakeUpstream(tt, openaiLike());
    const gateway = await startGateway(tt, yaml([{ name: 'first', upstream: first }, { name: 'second', upstream: second }]), { HTTP_PROXY: proxy.url, no_proxy: '127.0.0.1' });
    await ask(gateway, 'first', first);
    await ask(gateway, 'second', second);
    assert.deepEqual(proxy.tunnels, []);
    assert.deepEqual(proxy.forwarded, []);
  });

  await t.test('HTTPS_PROXY alone is for https:// upstreams: an http:// one goes direct', async (tt) => {
    const proxy = await fakeProxy(tt);
    const upstream = await fakeUpstream(tt, openaiLike());
    const gateway = await startGateway(tt, yaml([{ name: 'plain', upstream }]), { HTTPS_PROXY: proxy.url });
    await ask(gateway, 'plain', upstream);
    assert.deepEqual(proxy.tunnels, []);
    assert.deepEqual(proxy.forwarded, []);
  });

  await t.test('a proxy that never answers CONNECT is given up at the provider\'s connect timeout (undici alone waits 300 s)', async (tt) => {
    const hole = await blackHoleProxy(tt);
    const viaEnv = await fakeUpstream(tt, openaiLike());
    const viaOwn = await fakeUpstream(tt, openaiLike());
    const timeouts = 'timeouts: { connect: 1s, first-byte: 30s }';
    const gateway = await startGateway(tt, yaml([{ name: 'env', upstream: viaEnv, extra: timeouts }, { name: 'own', upstream: viaOwn, proxy: hole, extra: timeouts }]), { HTTPS_PROXY: hole.url, HTTP_PROXY: hole.url });
    for (const name of ['env', 'own']) {
      // Bounded at 60 s: the failure this guards against is undici's 300 s CONNECT wait.
      const started = Date.now();
      const response = await post(`${gateway.url}/v1/chat/completions`, { model: `model-${name}`, messages: [{ role: 'user', content: 'hello' }] }, {}, 60_000).catch((error: unknown) => {
        throw new Error(`${name}: no answer within 60 s through a proxy that never answers (${String(error)})`);
      });
      const body = await response.text();
      assert.ok(response.status === 504 || response.status === 502, `${name}: ${response.status} ${body}`);
      tt.diagnostic(`${name}: ${response.status} after ${Date.now() - started} ms, ${response.headers.get('x-ai-proxy-attempts')} attempts`);
    }
    assert.ok(hole.connections() >= 2, 'both providers went to the proxy');
    assert.equal(viaEnv.requests.length + viaOwn.requests.length, 0);
  });
});
