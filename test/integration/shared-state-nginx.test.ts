/**
 * Three instances behind nginx, configured with the shipped etc/nginx/ai-proxy-fleet.conf, under
 * load: each instance is stopped (`ai-proxy stop`: it drains) and started again in turn, as a
 * launcher upgrade does, and no request fails. nginx retries what a stopping instance refused or
 * reset on another (proxy_next_upstream error timeout non_idempotent).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitUntil } from '../helpers/cli.ts';
import { hasNginx, startNginx } from '../helpers/nginx.ts';
import { freePort, hasRedis, RedisServer } from '../helpers/redis.ts';
import { loadLoop, moreSamples, startFleet, waitShared, type Member } from './fleet-harness.ts';

const CLIENT_KEY = 'sk-fleet-nginx-9f8e7d6c5b4a';
// Under CI=true a missing service is a failure, not a skip: .ci/run installs it.
const skip = process.env.CI === 'true' ? false : !hasRedis() ? 'redis-server is not installed (.ci/run installs it)' : !hasNginx() ? 'nginx is not installed (.ci/run installs it)' : false;

test('a rolling stop/start of three instances behind nginx under load fails no request', { skip }, async (t) => {
  const redis = await RedisServer.start(t);
  const ports = [await freePort(), await freePort(), await freePort()];
  const members = await startFleet(
    t,
    (i) => `listen: { host: 127.0.0.1, port: ${ports[i]} }
shutdown-timeout: 10s
watch-config: false
log: { access: false }
client-keys:
  - { name: through-nginx, key: ${CLIENT_KEY}, rpm: 1000000 }
providers:
  - { name: mock, type: mock, models: [mock], mock: { latency: 20ms } }
shared-state: { redis: "${redis.url}", prefix: "lb:", command-timeout: 2s }
`,
  );
  await waitShared(members, 1);
  const nginx = await startNginx(t, ports);
  const load = loadLoop([{ name: 'nginx', url: () => nginx.url }], { model: 'mock', messages: [{ role: 'user', content: 'hi' }] }, { authorization: `Bearer ${CLIENT_KEY}` }, 8);
  t.after(() => load.stop());
  await moreSamples(load.samples, 100, 'before the rolling restart');

  for (const m of members as Member[]) {
    const before = (await m.metric('ai_proxy_requests_total', { route: '/v1/chat/completions', status: '200' })) ?? 0;
    assert.ok(before > 0, `instance ${m.name} served nothing through nginx before its stop`);
    const stopped = await m.stop();
    assert.equal(stopped.code, 0, `stop ${m.name}: ${stopped.stdout}${stopped.stderr}`);
    await moreSamples(load.samples, 100, `while ${m.name} is down`);
    await m.start();
    // nginx left it out for fail_timeout (5 s) if it saw an error; then it takes traffic again.
    await waitUntil(`instance ${m.name} serves through nginx again`, async () => ((await m.metric('ai_proxy_requests_total', { route: '/v1/chat/completions', status: '200' })) ?? 0) > 10, 60_000);
  }
  await load.stop();

  const failed = load.samples.filter((s) => s.status !== 200);
  t.diagnostic(`${load.samples.length} requests through nginx, ${failed.length} failed; slowest ${load.samples.reduce((max, s) => Math.max(max, s.ms), 0)} ms`);
  assert.equal(failed.length, 0, `failed: ${JSON.stringify(failed.slice(0, 5))}\nnginx error log:\n${nginx.errorLog().slice(-2000)}`);
});
