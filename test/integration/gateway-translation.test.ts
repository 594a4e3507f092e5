/**
 * The gateway's side of what a translation cannot carry, and of Codex's WebSocket attempt, on
 * the real CLI (`run -d`) in front of a strict fake upstream:
 *
 *   - a hosted tool the upstream has no equivalent for is left out: the request is answered, the
 *     client sees `x-ai-proxy-omitted` naming it (whole and streamed), the log has one warning;
 *   - with `translation.unsupported: reject` the same request is a 400 naming it, in the client's
 *     format, and nothing reaches the upstream;
 *   - a WebSocket upgrade on any path is answered at once with 426 and a closed connection, the
 *     body in the error format of the path's API, and its access line is written.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { strictUpstream } from '../helpers/agents/strict-upstream.ts';
import { post, SLACK_MS, waitUntil } from '../helpers/cli.ts';
import { startGateway } from './gateway-harness.ts';

const CODEX_LIKE = {
  model: 'via-chat',
  input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Say hello.' }] }],
  tools: [
    { type: 'function', name: 'exec_command', strict: false, parameters: { type: 'object', properties: { cmd: { type: 'string' } } } },
    { type: 'web_search', external_web_access: true },
    { type: 'file_search', vector_store_ids: ['vs_1'] },
  ],
  store: false,
  include: ['reasoning.encrypted_content'],
};

const yaml = (chatUrl: string, extra = ''): string => `listen: { host: 127.0.0.1, port: 0 }
shutdown-timeout: 5s
retry: { attempts: 1 }
providers:
  - { name: strict-chat, type: openai-compatible, wire-api: chat, base-url: "${chatUrl}/v1", api-keys: ["sk-strict-chat-0001"], models: ["via-chat"] }
${extra}`;

/** The whole answer to a raw request on its own connection, read until the gateway closes it. */
function rawExchange(port: number, request: string, timeoutMs = 5_000): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms; got: ${JSON.stringify(text)}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    socket.on('error', reject);
    socket.on('end', () => {
      clearTimeout(timer);
      socket.end();
      resolve({ text, closedByServer: true });
    });
  });
}

const upgrade = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nOpenAI-Beta: responses_websockets=2026-02-06\r\nAuthorization: Bearer sk-codex\r\n\r\n`;

test('a hosted tool the upstream cannot run is left out and named; a WebSocket upgrade gets 426 at once', async (t) => {
  const chat = await strictUpstream(t, 'chat');
  const gateway = await startGateway(t, yaml(chat.url));

  await t.test('left out: the answer comes, x-ai-proxy-omitted names what was left out, whole and streamed', async () => {
    for (const stream of [false, true]) {
      const response = await post(`${gateway.url}/v1/responses`, { ...CODEX_LIKE, stream });
      const text = await response.text();
      assert.equal(response.status, 200, text);
      assert.equal(response.headers.get('x-ai-proxy-omitted'), 'tool:file_search, tool:web_search');
      assert.match(text, /Hello from the strict fake upstream/);
      const sent = chat.requests.at(-1)?.body as { tools: Array<{ function: { name: string } }> };
      assert.deepEqual(sent.tools.map((tool) => tool.function.name), ['exec_command'], 'only the function reached the chat upstream');
      assert.equal(chat.requests.at(-1)?.status, 200, 'the strict chat fake accepted it');
    }
    // The server's lines reach the file through the launcher, a moment after the answer.
    const warned = (): string[] => gateway.log().split('\n').filter((line) => line.includes('sent without what the upstream cannot take'));
    await waitUntil('both warnings are in the log', () => warned().length >= 2, 3 * SLACK_MS).catch(() => undefined);
    const warnings = warned();
    assert.equal(warnings.length, 2, `one warning per request:\n${warnings.join('\n')}`);
    assert.match(warnings[0] as string, /WARN.*responses → chat, strict-chat\/via-chat\): sent without what the upstream cannot take: tool:file_search, tool:web_search/);
  });

  await t.test('a request with nothing to leave out carries no x-ai-proxy-omitted', async () => {
    const response = await post(`${gateway.url}/v1/responses`, { ...CODEX_LIKE, tools: CODEX_LIKE.tools.slice(0, 1) });
    assert.equal(response.status, 200, await response.text());
    assert.equal(response.headers.get('x-ai-proxy-omitted'), null);
  });

  await t.test('a WebSocket upgrade is answered 426 at once, connection closed, in the error format of the path’s API', async () => {
    const port = Number(new URL(gateway.url).port);
    for (const [path, shape] of [
      ['/v1/responses', /^\{"error":\{"message":"This gateway does not serve the WebSocket transport; send the request over HTTP \(POST \/v1\/responses\)\.","type":"invalid_request_error"/],
      ['/v1/messages', /^\{"type":"error","error":\{"type":"invalid_request_error","message":"This gateway does not serve the WebSocket transport/],
      ['/v1beta/models/gemini-2.5-pro:streamGenerateContent', /^\{"error":\{"code":426,"message":"This gateway does not serve the WebSocket transport/],
    ] as const) {
      const { text, closedByServer } = await rawExchange(port, upgrade(path));
      const [rawHead = '', body = ''] = text.split('\r\n\r\n');
      const head = `${rawHead}\r\n`;
      assert.match(head, /^HTTP\/1\.1 426 Upgrade Required\r\n/, text);
      assert.match(head, /\r\nconnection: close\r\n/i);
      assert.doesNotMatch(head, /\r\nupgrade:/i, 'no protocol is offered to switch to');
      assert.match(head, /\r\ncontent-type: application\/json\r\n/i);
      assert.match(body, shape);
      assert.ok(closedByServer, 'the gateway closed the connection');
    }
    assert.equal(chat.requests.filter((r) => r.method === 'GET').length, 0, 'nothing went upstream');
    await waitForLog(gateway.log, / access id=\S+ client=- GET \/v1beta\/models\/gemini-2\.5-pro:streamGenerateContent model=- provider=- status=426 /);
  });
});

test('translation.unsupported: reject answers 400 naming what would be left out, and sends nothing upstream', async (t) => {
  const chat = await strictUpstream(t, 'chat');
  const gateway = await startGateway(t, yaml(chat.url, 'translation: { unsupported: reject }\n'));
  const response = await post(`${gateway.url}/v1/responses`, CODEX_LIKE);
  const body = (await response.json()) as { error: { message: string; type: string } };
  assert.equal(response.status, 400);
  assert.equal(body.error.type, 'invalid_request_error');
  assert.match(body.error.message, /translation\.unsupported: reject\): tool:file_search, tool:web_search\.$/);
  assert.equal(chat.requests.length, 0, 'nothing reached the upstream');
  const fine = await post(`${gateway.url}/v1/responses`, { ...CODEX_LIKE, tools: CODEX_LIKE.tools.slice(0, 1) });
  assert.equal(fine.status, 200, 'what can be carried is not refused');
});

/** The access line is written when the response closes: wait for it, bounded. */
async function waitForLog(log: () => string, pattern: RegExp, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(log())) {
    if (Date.now() > deadline) assert.fail(`no log line matching ${pattern} within ${timeoutMs} ms:\n${log().slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
