/**
 * Which dispatcher a provider gets: its own `proxy` wins, else undici's EnvHttpProxyAgent when
 * the environment names a proxy the way undici reads it, else a plain Agent (no per-request
 * proxy decision when there is nothing to decide). The gateway-env-proxy integration test checks
 * where the requests really go.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Agent, EnvHttpProxyAgent, ProxyAgent } from 'undici';
import type { ProviderConfig } from '../../src/shared/config/schema.ts';
import { createDispatcher, proxyInEnvironment } from '../../src/server/proxy/dispatcher.ts';

const NAMES = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY'] as const;

describe('proxyInEnvironment: undici\'s reading of the proxy variables', () => {
  const cases: Array<[string, NodeJS.ProcessEnv, boolean]> = [
    ['nothing set', {}, false],
    ['HTTP_PROXY', { HTTP_PROXY: 'http://proxy:3128' }, true],
    ['http_proxy', { http_proxy: 'http://proxy:3128' }, true],
    ['HTTPS_PROXY', { HTTPS_PROXY: 'http://proxy:3128' }, true],
    ['https_proxy', { https_proxy: 'http://proxy:3128' }, true],
    ['NO_PROXY alone', { NO_PROXY: '*', no_proxy: 'localhost' }, false],
    ['an empty HTTP_PROXY', { HTTP_PROXY: '' }, false],
    // undici reads `http_proxy ?? HTTP_PROXY`: an empty lowercase value is a value, and means none.
    ['an empty http_proxy hiding HTTP_PROXY', { http_proxy: '', HTTP_PROXY: 'http://proxy:3128' }, false],
    ['an empty https_proxy hiding HTTPS_PROXY, HTTP_PROXY set', { https_proxy: '', HTTPS_PROXY: 'http://a:1', HTTP_PROXY: 'http://b:2' }, true],
  ];
  for (const [name, env, expected] of cases) {
    it(`${name}: ${expected ? 'a proxy' : 'no proxy'}`, () => assert.equal(proxyInEnvironment(env), expected));
  }
});

describe('createDispatcher', () => {
  const saved = new Map(NAMES.map((n) => [n, process.env[n]]));
  afterEach(() => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  const setEnv = (env: Partial<Record<(typeof NAMES)[number], string>>): void => {
    for (const name of NAMES) delete process.env[name];
    Object.assign(process.env, env);
  };
  const provider = (proxy?: string): ProviderConfig =>
    ({ name: 'p', type: 'openai-compatible', timeouts: { connect: 1_000, firstByte: 2_000, idle: 3_000, total: 0 }, maxConcurrent: 4, ...(proxy === undefined ? {} : { proxy }) }) as ProviderConfig;

  it('gives a plain Agent when no proxy variable is set', async () => {
    setEnv({ NO_PROXY: '127.0.0.1' });
    const d = createDispatcher(provider());
    assert.ok(d instanceof Agent && !(d instanceof EnvHttpProxyAgent), d.constructor.name);
    await d.close();
  });

  it('gives an EnvHttpProxyAgent when HTTPS_PROXY or http_proxy is set', async () => {
    for (const env of [{ HTTPS_PROXY: 'http://127.0.0.1:9' }, { http_proxy: 'http://127.0.0.1:9' }]) {
      setEnv(env);
      const d = createDispatcher(provider());
      assert.ok(d instanceof EnvHttpProxyAgent, `${JSON.stringify(env)}: ${d.constructor.name}`);
      await d.close();
    }
  });

  it('gives the provider\'s own proxy precedence over the environment', async () => {
    setEnv({ HTTP_PROXY: 'http://127.0.0.1:9' });
    const d = createDispatcher(provider('http://127.0.0.1:10'));
    assert.ok(d instanceof ProxyAgent, d.constructor.name);
    await d.close();
  });
});
