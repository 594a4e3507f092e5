/**
 * Reload under load (issue 5): a reload never costs a request. Non-streaming clients on
 * keep-alive connections and long SSE streams run the whole time while the config is reloaded
 * many times, by every path (file edits on disk, in place and by rename; SIGHUP; `ai-proxy
 * reload`), alternating valid and invalid configs. Every request must succeed and every stream
 * must reach the client byte for byte as the upstream wrote it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { get, instance, runCli, SLACK_MS, startDaemon, waitUntil } from '../helpers/cli.ts';
import { exchange, within, pick, randomInt, scriptedChat, scriptedUpstream, testSeed, type Exchange, killInstanceOnExit } from '../helpers/reliability.ts';
import { seededRandom } from '../helpers/random.ts';

const CLIENT_KEY = 'sk-rel-client-5f1c0e9a7d3b';
const ADMIN_KEY = 'sk-rel-admin-88e2b6c4a1f0';
const ROUNDS = 24;

type Method = 'watch-rename' | 'watch-in-place' | 'sighup' | 'control';
const methods: readonly Method[] = ['watch-rename', 'watch-in-place', 'sighup', 'control'];

test('reload under load: every path, valid and invalid configs, zero failed requests, every stream byte-exact', { timeout: 120_000 }, async (t) => {
  const seed = testSeed(0x5eed01);
  const rand = seededRandom(seed);
  t.diagnostic(`seed ${seed} (REL_SEED replays it)`);
  const up = await scriptedUpstream(t);

  /** A valid config, different in meaning for every revision (so every valid reload is a new generation). */
  const validYaml = (rev: number): string => {
    // Alternating the upstream's idle timeout replaces its connection pool on reload while requests use the old one.
    const idle = rev % 2 === 0 ? '30s' : '31s';
    return [
      `# revision ${rev}`,
      'listen:\n  host: 127.0.0.1\n  port: 0',
      'shutdown-timeout: 10s',
      `log:\n  level: ${rev % 3 === 0 ? 'info' : 'warn'}`,
      'client-keys:\n  - name: rel\n    key: ${REL_CLIENT_KEY}',
      'admin:\n  key: ${REL_ADMIN_KEY}',
      'providers:',
      up.providerYaml('up', ['rel-model'], `    timeouts:\n      idle: ${idle}\n`).trimEnd(),
      `  - name: mock\n    type: mock\n    models: [mock]\n    mock:\n      reply: "mock revision ${rev}"`,
      `models:\n  aliases:\n    alias-${rev}: rel-model`,
      `retry:\n  attempts: ${1 + (rev % 3)}`,
      '',
    ].join('\n');
  };
  /** An invalid config whose rejection names `marker`, so the test knows which verdict is this round's. */
  const invalidYaml = (rev: number, kind: number): { yaml: string; marker: string } => {
    const base = validYaml(rev);
    switch (kind % 5) {
      case 0:
        return { yaml: `${base}unknown-r${rev}: true\n`, marker: `unknown key "unknown-r${rev}"` };
      case 1:
        return { yaml: base.replace('key: ${REL_ADMIN_KEY}', `key: \${MISSING_R${rev}}`), marker: `MISSING_R${rev} is not set` };
      case 2:
        return { yaml: base.replace('port: 0', `port: ${20_000 + rev}`), marker: `127.0.0.1:${20_000 + rev}` };
      case 3: {
        // A YAML syntax error on a line that depends on the revision.
        const padding = '#\n'.repeat(rev);
        return { yaml: `${padding}${base}providers: [unclosed\n`, marker: `:${rev + base.split('\n').length}:` };
      }
      default:
        return { yaml: base.replace('type: mock', 'type: mock-r' + rev), marker: 'providers[1].type: expected one of' };
    }
  };

  const inst = instance(t, validYaml(0), { REL_CLIENT_KEY: CLIENT_KEY, REL_ADMIN_KEY: ADMIN_KEY });
  killInstanceOnExit(t, inst.dir);
  const { pid, url } = await startDaemon(inst);
  const auth = { authorization: `Bearer ${CLIENT_KEY}` };
  const generation = async (): Promise<number> => ((await (await get(`${url}/readyz`)).json()) as { generation: number }).generation;
  assert.equal(await generation(), 1);

  // --- load -------------------------------------------------------------------------------
  let loading = true;
  const failures: string[] = [];
  const counts = { requests: 0, mockRequests: 0, streams: 0, streamBytes: 0 };
  let nextId = 0;
  const checkStream = (id: string, result: Exchange): void => {
    const sent = up.sent.get(id);
    if (result.status !== 200 || !result.complete || result.error !== null) failures.push(`stream ${id}: status ${result.status}, complete ${result.complete}, error ${result.error}: ${result.body.toString('utf8').slice(0, 300)}`);
    else if (!up.finished.has(id) || sent === undefined || !sent.equals(result.body)) failures.push(`stream ${id}: the client got ${result.body.length} bytes, the upstream sent ${sent?.length ?? 0}${up.finished.has(id) ? '' : ' (unfinished)'}; first difference at ${firstDifference(sent ?? Buffer.alloc(0), result.body)}`);
    counts.streams++;
    counts.streamBytes += result.body.length;
  };
  const streamSlot = async (slot: number): Promise<void> => {
    const slotRand = seededRandom(seed + slot);
    while (loading) {
      const id = `s${slot}-${nextId++}`;
      const result = await exchange(`${url}/v1/chat/completions`, scriptedChat('rel-model', { id, events: randomInt(slotRand, 20, 50), gapMs: randomInt(slotRand, 20, 80) }, true), { headers: auth, timeoutMs: 60_000 });
      checkStream(id, result);
    }
  };
  const requestClient = async (client: number): Promise<void> => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const clientRand = seededRandom(seed * 31 + client);
    while (loading) {
      const id = `r${client}-${nextId++}`;
      const toMock = clientRand() < 0.3;
      const result = await exchange(`${url}/v1/chat/completions`, scriptedChat(toMock ? 'mock' : 'rel-model', { id }, false), { headers: auth, agent, timeoutMs: 30_000 });
      counts.requests++;
      if (toMock) counts.mockRequests++;
      let content = '';
      try {
        content = (JSON.parse(result.body.toString('utf8')) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content ?? '';
      } catch {
        // reported below
      }
      const ok = result.status === 200 && result.complete && (toMock ? /^mock revision \d+/.test(content) : content === `reply to ${id}`);
      if (!ok) failures.push(`request ${id} (${toMock ? 'mock' : 'upstream'}): status ${result.status}, error ${result.error}: ${result.body.toString('utf8').slice(0, 300)}`);
      // Paced, so that the load leaves CPU for the reloads and for test files running alongside.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  // Two long streams span (nearly) every reload; four slots keep shorter streams starting throughout.
  const longStream = async (n: number): Promise<void> => {
    const id = `long-${n}`;
    checkStream(id, await exchange(`${url}/v1/chat/completions`, scriptedChat('rel-model', { id, events: 300, gapMs: 30 }, true), { headers: auth, timeoutMs: 90_000 }));
  };
  const load = Promise.all([longStream(0), longStream(1), ...Array.from({ length: 4 }, (_, i) => streamSlot(i)), ...Array.from({ length: 4 }, (_, i) => requestClient(i))]);

  // --- reloads ----------------------------------------------------------------------------
  const logText = (): string => {
    try {
      return readFileSync(inst.logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const writeInPlace = (yaml: string): void => writeFileSync(inst.config, yaml);
  const writeByRename = (yaml: string): void => {
    writeFileSync(`${inst.config}.tmp`, yaml);
    renameSync(`${inst.config}.tmp`, inst.config);
  };
  let expectedGeneration = 1;
  const tally = { applied: 0, rejected: 0, byMethod: {} as Record<string, number> };
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const valid = round % 2 === 1;
      const method = pick(rand, methods);
      tally.byMethod[method] = (tally.byMethod[method] ?? 0) + 1;
      const { yaml, marker } = valid ? { yaml: validYaml(round), marker: '' } : invalidYaml(round, randomInt(rand, 0, 4));
      if (valid) expectedGeneration++;
      if (method === 'watch-in-place') writeInPlace(yaml);
      else writeByRename(yaml);
      if (method === 'sighup') process.kill(pid, 'SIGHUP');
      if (method === 'control') {
        const result = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
        if (valid) assert.equal(result.code, 0, `round ${round}: reload of a valid config: ${result.stdout}${result.stderr}`);
        else {
          assert.equal(result.code, 1, `round ${round}: reload of an invalid config: ${result.stdout}${result.stderr}`);
          assert.ok(result.stderr.includes(marker), `round ${round}: the rejection names ${marker}:\n${result.stderr}`);
        }
      }
      // Every path ends in the same verdict: a new generation, or a rejection naming this round's error.
      if (valid) await waitUntil(`round ${round} (${method}) applies generation ${expectedGeneration}`, async () => (await generation()) === expectedGeneration);
      else await waitUntil(`round ${round} (${method}) is rejected with ${marker}`, () => logText().includes(marker));
      if (valid) tally.applied++;
      else tally.rejected++;
      // A random pause lets the load interleave differently with each reload.
      await new Promise((resolve) => setTimeout(resolve, randomInt(rand, 20, 250)));
    }
  } finally {
    loading = false;
    await load;
  }

  t.diagnostic(`reloads: ${ROUNDS} (${tally.applied} applied, ${tally.rejected} rejected; by path ${JSON.stringify(tally.byMethod)}), final generation ${expectedGeneration}`);
  t.diagnostic(`requests sent: ${counts.requests} (${counts.mockRequests} to the mock), failed: ${failures.filter((f) => f.startsWith('request')).length}; streams: ${counts.streams} (${counts.streamBytes} bytes, 2 spanning the reloads), byte-exact: ${counts.streams - failures.filter((f) => f.startsWith('stream')).length}`);
  assert.deepEqual(failures, [], `failed or truncated requests:\n${failures.slice(0, 20).join('\n')}`);
  assert.ok(counts.requests >= 100 && counts.streams >= 12, `enough load ran during the reloads (${counts.requests} requests, ${counts.streams} streams)`);
  assert.equal(await generation(), expectedGeneration);

  // Still serving, and the log never saw a key.
  const stop = await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  const log = logText();
  for (const secret of [CLIENT_KEY, ADMIN_KEY, 'upstream-key-up']) assert.ok(!log.includes(secret), `the log holds a secret (${secret.slice(0, 8)}…)`);
});

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

test('a request whose body is still arriving when a reload replaces its upstream pool finishes on its own snapshot', { timeout: 60_000 }, async (t) => {
  const up = await scriptedUpstream(t);
  const yaml = (idle: string): string =>
    `listen:\n  host: 127.0.0.1\n  port: 0\nproviders:\n${up.providerYaml('up', ['rel-model'], `    timeouts:\n      idle: ${idle}\n`)}`;
  const inst = instance(t, yaml('30s'));
  killInstanceOnExit(t, inst.dir);
  const { url } = await startDaemon(inst);
  const results: Exchange[] = [];
  for (let round = 0; round < 3; round++) {
    // Five requests send their headers and half their body, then a reload swaps the pool, then the bodies end.
    const pending = Array.from({ length: 5 }, (_, i) => halfSent(`${url}/v1/chat/completions`, JSON.stringify(scriptedChat('rel-model', { id: `slow-${round}-${i}` }, false))));
    await Promise.all(pending.map((p) => p.headersSent));
    writeFileSync(inst.config, yaml(`${31 + round}s`));
    const reload = await runCli(['reload', '--pid-file', inst.pidFile], { env: inst.env });
    assert.equal(reload.code, 0, reload.stdout + reload.stderr);
    results.push(...(await Promise.all(pending.map((p) => p.finish()))));
  }
  const failed = results.filter((r, i) => r.status !== 200 || !r.body.toString('utf8').includes(`reply to slow-${Math.floor(i / 5)}-${i % 5}`));
  t.diagnostic(`requests sent: ${results.length}, failed: ${failed.length}`);
  assert.deepEqual(failed.map((r) => `${r.status} ${r.body.toString('utf8').slice(0, 300)}`), []);
});

/** A POST whose body is sent in two halves: `finish()` sends the rest and resolves with the response. */
function halfSent(url: string, text: string): { headersSent: Promise<void>; finish: () => Promise<Exchange> } {
  const bytes = Buffer.from(text);
  const half = Math.floor(bytes.length / 2);
  const started = Date.now();
  let resolveResult!: (e: Exchange) => void;
  const result = new Promise<Exchange>((resolve) => (resolveResult = resolve));
  const req = httpRequest(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': String(bytes.length) } });
  req.on('error', (error) => resolveResult({ status: 0, headers: {}, body: Buffer.alloc(0), complete: false, error: error.message, ms: Date.now() - started }));
  req.on('response', (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolveResult({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete, error: null, ms: Date.now() - started }));
  });
  req.flushHeaders();
  const headersSent = new Promise<void>((resolve) => req.write(bytes.subarray(0, half), () => resolve()));
  return {
    headersSent,
    finish: () => {
      req.end(bytes.subarray(half));
      return within(result, 3 * SLACK_MS, 'no response to a half-sent request');
    },
  };
}
