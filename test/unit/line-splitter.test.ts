import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter } from '../../src/launcher/line-splitter.ts';
import { seededRandom } from '../helpers/random.ts';


function run(splitter: LineSplitter, chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    const lines = splitter.push(chunk);
    if (lines !== null) out.push(lines);
  }
  const rest = splitter.flush();
  if (rest !== null) out.push(rest);
  return out;
}

describe('LineSplitter', () => {
  it('hands over only whole lines, whatever the chunk boundaries', () => {
    const random = seededRandom(7);
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'é'.repeat(Math.floor(random() * 40))}`);
    const input = Buffer.from(lines.join('\n') + '\n');
    const chunks: Buffer[] = [];
    for (let at = 0; at < input.length; ) {
      // Mostly small cuts (splitting lines and multi-byte characters), some that hold many lines.
      const size = random() < 0.1 ? 1 + Math.floor(random() * 4000) : 1 + Math.floor(random() * 30);
      chunks.push(input.subarray(at, at + size));
      at += size;
    }
    const out = run(new LineSplitter(), chunks);
    for (const piece of out) assert.equal(piece[piece.length - 1], 0x0a, 'every piece ends a line');
    assert.deepEqual(Buffer.concat(out).toString().split('\n').slice(0, -1), lines);
  });

  it('returns a chunk that ends in a newline as it is, without copying', () => {
    const chunk = Buffer.from('a\nb\n');
    assert.equal(new LineSplitter().push(chunk), chunk);
  });

  it('holds a partial line until its newline, and flushes it with one at the end', () => {
    const splitter = new LineSplitter();
    assert.equal(splitter.push(Buffer.from('par')), null);
    assert.equal(splitter.push(Buffer.from('tial')), null);
    assert.equal(splitter.pendingBytes, 7);
    assert.equal(splitter.push(Buffer.from(' line\nnext'))?.toString(), 'partial line\n');
    assert.equal(splitter.flush()?.toString(), 'next\n');
    assert.equal(splitter.flush(), null);
  });

  it('cuts a line that never ends at the bound, so memory stays bounded', () => {
    const splitter = new LineSplitter(16);
    for (let i = 0; i < 100; i++) assert.equal(splitter.push(Buffer.from('0123456789')), null);
    assert.equal(splitter.pendingBytes, 16);
    assert.equal(splitter.push(Buffer.from('tail\nok\n'))?.toString(), '0123456789012345 [line truncated]\nok\n');
    assert.equal(splitter.pendingBytes, 0);
  });

  it('cuts a held line whose end arrives in a chunk that takes it past the bound', () => {
    const splitter = new LineSplitter(8);
    assert.equal(splitter.push(Buffer.from('12345')), null);
    assert.equal(splitter.push(Buffer.from('6789abc\nx\n'))?.toString(), '12345678 [line truncated]\nx\n');
  });

  it('flushes a cut line that the stream ended before its newline', () => {
    const splitter = new LineSplitter(4);
    splitter.push(Buffer.from('abcdefgh'));
    assert.equal(splitter.flush()?.toString(), 'abcd [line truncated]\n');
  });
});
