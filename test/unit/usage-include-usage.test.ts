import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stripUsageChunk, withIncludeUsage } from '../../src/server/usage/include-usage.ts';
import { openaiStream } from '../helpers/fake-upstream.ts';

function run(chunks: readonly Buffer[]): string {
  let out = '';
  const t = stripUsageChunk((text) => (out += text));
  for (const c of chunks) t.push(c);
  t.end();
  return out;
}

describe('stream_options.include_usage', () => {
  it('asks for usage unless the client did, keeping its other stream options', () => {
    assert.deepEqual(withIncludeUsage({ model: 'a', stream: true }, 'b'), { model: 'b', stream: true, stream_options: { include_usage: true } });
    assert.deepEqual(withIncludeUsage({ model: 'a', stream_options: { include_obfuscation: false } }, 'a'), { model: 'a', stream_options: { include_obfuscation: false, include_usage: true } });
    assert.equal(withIncludeUsage({ model: 'a', stream_options: { include_usage: true } }, 'a'), null);
  });

  it('drops the usage-only chunk and nothing else, however the stream is cut into chunks', () => {
    const events = openaiStream('gpt-4o', ['Hel', 'lo ✓'], { prompt_tokens: 3, completion_tokens: 2 });
    const whole = events.join('');
    const expected = events.filter((e) => !e.includes('"choices":[]')).map((e) => e.replace(',"usage":null', '')).join('');
    assert.notEqual(expected, whole);
    assert.equal(run([Buffer.from(whole)]), expected);
    assert.equal(run(events.map((e) => Buffer.from(e))), expected);
    // Every split point, including inside the multi-byte ✓ and inside "\n\n".
    const bytes = Buffer.from(whole);
    for (let cut = 1; cut < bytes.length; cut += 7) assert.equal(run([bytes.subarray(0, cut), bytes.subarray(cut)]), expected, `cut at ${cut}`);
    const single = [];
    for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
    assert.equal(run(single), expected, 'one byte at a time');
  });

  it('an upstream failure mid-stream ends the client stream with an error event', () => {
    let out = '';
    const t = stripUsageChunk((text) => (out += text));
    t.push(Buffer.from('data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"choi'));
    t.fail('upstream went away');
    assert.match(out, /^data: \{"choices":\[\{"delta":\{"content":"a"\}\}\]\}\n\n\n\ndata: \{"error":\{"message":"upstream went away"/);
  });
});
