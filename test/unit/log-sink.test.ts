import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { openLogSink } from '../../src/launcher/log-sink.ts';
import type { LogSink, LogSinkOptions } from '../../src/launcher/log-sink.ts';
import { AppError } from '../../src/shared/errors.ts';
import { seededRandom } from '../helpers/random.ts';

/**
 * For the sink to catch up. Each size rotation makes rotating-file-stream stat every file in its
 * history, one after another; the rotation test keeps all of its 267 files (maxFiles 100 000), so
 * its late rotations are slow, and a reopen waits for the one in progress. One wait took 1-4 s
 * under load and over 10 s in a CI run; a stuck sink never catches up.
 */
const WAIT_MS = 60_000;
const ROTATED = /^ai-proxy-\d{8}-\d{6}-\d{4}\.log(\.gz)?$/;

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ai-proxy-log-sink-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function options(file: string | null, overrides: Partial<LogSinkOptions> = {}): LogSinkOptions {
  return { file, rotate: 'daily', maxFiles: 14, maxSize: null, compress: false, ...overrides };
}

/** Opens a sink that is closed after the test even when an assertion fails. */
async function open(t: TestContext, opts: LogSinkOptions): Promise<LogSink> {
  const sink = await openLogSink(opts);
  t.after(() => sink.close());
  return sink;
}

async function until(what: string, condition: () => boolean, sink?: LogSink): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting until ${what}${sink === undefined ? '' : ` (${sink.pendingBytes} bytes pending)`}`);
    await nextTurn();
  }
}


/** Line i's exact text: its length varies with i, some lines are long, some carry two-byte characters. */
function lineText(i: number): string {
  const h = Math.imul(i, 2654435761) >>> 0;
  const len = i % 997 === 0 ? 3000 : h % 120;
  if (len === 0) return `line ${i}`;
  return `line ${i} ${(i % 3 === 0 ? 'é' : 'x').repeat(len)}`;
}

/** Every log file in dir (current and rotated), as its lines; asserts each holds only whole lines. */
function readLogFiles(dir: string): Map<string, string[]> {
  const files = new Map<string, string[]>();
  for (const name of readdirSync(dir)) {
    if (name !== 'ai-proxy.log' && !ROTATED.test(name)) continue;
    const raw = readFileSync(join(dir, name));
    const text = (name.endsWith('.gz') ? gunzipSync(raw) : raw).toString();
    assert.ok(text === '' || text.endsWith('\n'), `${name} ends with a whole line`);
    files.set(name, text === '' ? [] : text.slice(0, -1).split('\n'));
  }
  return files;
}

/** Line numbers found across the files; asserts every line is intact. */
function numbersIn(files: Map<string, string[]>): number[] {
  const numbers: number[] = [];
  for (const [name, lines] of files) {
    for (const line of lines) {
      const n = Number(/^line (\d+)/.exec(line)?.[1]);
      assert.equal(line, lineText(n), `${name}: a whole, intact line`);
      numbers.push(n);
    }
  }
  return numbers;
}

/**
 * Feeds a pipe like a child's stdout: the text is cut at random byte offsets (mid-line and
 * mid-character, single bytes up to many lines), and a random tail is held back for the next round.
 */
function feed(pipe: PassThrough, held: Buffer, text: string, random: () => number, last: boolean): Buffer {
  const data = Buffer.concat([held, Buffer.from(text)]);
  const end = last ? data.length : Math.floor(random() * data.length);
  for (let at = 0; at < end; ) {
    const size = Math.min(end - at, random() < 0.2 ? 1 + Math.floor(random() * 8000) : 1 + Math.floor(random() * 40));
    pipe.write(data.subarray(at, at + size));
    at += size;
  }
  return data.subarray(end);
}

async function numberedLines(t: TestContext, n: number, compress: boolean): Promise<void> {
  const dir = tempDir(t);
  const maxSize = 64 * 1024;
  const errors: Error[] = [];
  const started = Date.now();
  const sink = await open(t, options(join(dir, 'ai-proxy.log'), { maxSize, maxFiles: 100_000, compress, onError: (e) => errors.push(e) }));
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  sink.pipeFrom(stdout);
  sink.pipeFrom(stderr);
  const random = seededRandom(compress ? 2 : 1);
  let outText = '';
  let errText = '';
  let outHeld: Buffer = Buffer.alloc(0);
  let errHeld: Buffer = Buffer.alloc(0);
  const reopens: Promise<void>[] = [];
  for (let i = 1; i <= n; i++) {
    const r = random();
    if (r < 0.4) sink.write(lineText(i));
    else if (r < 0.7) outText += lineText(i) + '\n';
    else errText += lineText(i) + '\n';
    if (i % 500 === 0 || i === n) {
      outHeld = feed(stdout, outHeld, outText, random, i === n);
      errHeld = feed(stderr, errHeld, errText, random, i === n);
      outText = '';
      errText = '';
      // Not awaited: lines keep arriving while the file is closed and opened again.
      if (i % 10_000 === 0) reopens.push(sink.reopen());
      // Pace the writer like a real child, which cannot outrun the pipe: this test is about
      // lines surviving rotation, not about dropping them under overload.
      await until('the sink catches up', () => sink.pendingBytes < 1024 * 1024, sink);
    }
  }
  stdout.end();
  stderr.end();
  await Promise.all([finished(stdout), finished(stderr), ...reopens]);
  await sink.close();

  const files = readLogFiles(dir);
  const seen = new Uint8Array(n + 1);
  for (const k of numbersIn(files)) seen[k] = (seen[k] ?? 0) + 1;
  const missing: number[] = [];
  const doubled: number[] = [];
  for (let k = 1; k <= n; k++) {
    if (seen[k] === 0) missing.push(k);
    else if (seen[k] !== 1) doubled.push(k);
  }
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} lines missing`);
  assert.deepEqual(doubled.slice(0, 10), [], `${doubled.length} lines duplicated`);
  assert.equal(sink.dropped, 0);
  assert.deepEqual(errors, []);
  const rotated = [...files.keys()].filter((name) => name !== 'ai-proxy.log');
  // rotating-file-stream rotates after the write that reaches the cap, so a file passes it by at most one write.
  const largest = Math.max(...[...files.values()].map((lines) => lines.reduce((sum, l) => sum + Buffer.byteLength(l) + 1, 0)));
  assert.ok(largest < 2 * maxSize, `largest file ${largest} bytes`);
  assert.ok(rotated.length >= 50, `many rotations (${rotated.length})`);
  t.diagnostic(`${n} lines, ${rotated.length} rotated files (largest ${largest} bytes), ${reopens.length} reopens, compress=${compress}, ${Date.now() - started} ms`);
}

describe('log sink', () => {
  it('loses, splits and duplicates no line across size rotations and reopens', async (t) => {
    await numberedLines(t, 200_000, false);
  });

  it('keeps every line whole when rotated files are gzipped', async (t) => {
    await numberedLines(t, 60_000, true);
  });

  it('with rotate: external, reopen() after a rename sends new lines to a new file at the path', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'ai-proxy.log');
    const sink = await open(t, options(file, { rotate: 'external' }));
    for (let i = 1; i <= 100; i++) sink.write(lineText(i));
    await until('the first lines are written', () => sink.pendingBytes === 0);
    renameSync(file, `${file}.1`);
    // Written after logrotate's rename but before the signal: the open descriptor still points at the renamed file.
    for (let i = 101; i <= 200; i++) sink.write(lineText(i));
    const reopened = sink.reopen();
    for (let i = 201; i <= 300; i++) sink.write(lineText(i));
    await reopened;
    for (let i = 301; i <= 400; i++) sink.write(lineText(i));
    await sink.close();

    const numbers = (name: string): number[] => readFileSync(join(dir, name), 'utf8').trimEnd().split('\n').map((l) => Number(/^line (\d+)/.exec(l)?.[1]));
    const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, k) => from + k);
    assert.deepEqual(numbers('ai-proxy.log.1'), range(1, 200));
    assert.deepEqual(numbers('ai-proxy.log'), range(201, 400));
  });

  it('keeps maxFiles rotated files, the newest, with sortable names', async (t) => {
    const dir = tempDir(t);
    const sink = await open(t, options(join(dir, 'ai-proxy.log'), { maxSize: 1024, maxFiles: 3 }));
    const n = 400;
    for (let i = 1; i <= n; i++) {
      sink.write(`line ${i}`.padEnd(60, '.'));
      if (i % 10 === 0) await until('the sink catches up', () => sink.pendingBytes === 0);
    }
    await sink.close();
    const names = readdirSync(dir);
    const rotated = names.filter((name) => ROTATED.test(name)).sort();
    assert.equal(rotated.length, 3, names.join(' '));
    assert.ok(names.includes('.ai-proxy.log.history'), 'the list of rotated files stays out of log globs');
    // The survivors hold the end of the sequence, in name order: the oldest files went first.
    const numbers = [...rotated, 'ai-proxy.log'].flatMap((name) =>
      readFileSync(join(dir, name), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => Number(/^line (\d+)/.exec(l)?.[1])),
    );
    assert.equal(numbers.at(-1), n);
    assert.deepEqual(numbers, Array.from({ length: numbers.length }, (_, k) => n - numbers.length + 1 + k));
    assert.ok(numbers.length < n, 'older files were removed');
  });

  it('drained(): every line written so far is in the file, without closing it', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'ai-proxy.log');
    const sink = await open(t, options(file));
    for (let i = 1; i <= 1000; i++) sink.write(`line ${i}`);
    // drained() gives up silently at its bound: the count below would then fail.
    await sink.drained(WAIT_MS);
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1000);
    assert.equal(lines.at(-1), 'line 1000');
  });

  it('refuses a path it cannot write, with the reason', async (t) => {
    const dir = tempDir(t);
    // Tests run as root, which ignores permission bits: a regular file in the path fails for everyone.
    writeFileSync(join(dir, 'plain-file'), '');
    const under = join(dir, 'plain-file', 'logs', 'ai-proxy.log');
    for (const rotate of ['daily', 'external'] as const) {
      await assert.rejects(openLogSink(options(under, { rotate })), (error: unknown) => {
        assert.ok(error instanceof AppError);
        assert.equal(error.code, 'E_LOG_DIR');
        assert.equal(error.message, `cannot create log file directory ${join(dir, 'plain-file', 'logs')}: ${join(dir, 'plain-file')} is a regular file, not a directory`);
        return true;
      });
    }
    mkdirSync(join(dir, 'a-directory'));
    await assert.rejects(openLogSink(options(join(dir, 'a-directory'))), {
      code: 'E_LOG_DIR',
      message: `log file ${join(dir, 'a-directory')} is a directory, not a regular file`,
    });
  });

  it('creates a missing directory', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'nested', 'deeper', 'ai-proxy.log');
    const sink = await open(t, options(file));
    assert.equal(sink.path, file);
    sink.write('hello');
    await sink.close();
    assert.equal(readFileSync(file, 'utf8'), 'hello\n');
  });

  it('close() writes out everything written before it, held partial lines included', async (t) => {
    for (const rotate of ['daily', 'external'] as const) {
      const dir = tempDir(t);
      const file = join(dir, 'ai-proxy.log');
      const sink = await open(t, options(file, { rotate }));
      const child = new PassThrough();
      sink.pipeFrom(child);
      const n = 50_000;
      for (let i = 1; i <= n; i++) sink.write(lineText(i));
      child.write('a last word without its newline');
      await until('the pipe delivers', () => child.readableLength === 0);
      await sink.close();
      sink.write('after close: ignored');
      const lines = readFileSync(file, 'utf8').split('\n');
      assert.equal(lines.length, n + 2, rotate);
      assert.equal(lines[n - 1], lineText(n));
      assert.equal(lines[n], 'a last word without its newline');
      assert.equal(lines[n + 1], '');
    }
  });

  it('drops and counts lines, in bounded memory, while the output stalls, then says how many', async (t) => {
    const output = new StallingWritable();
    const maxBufferedBytes = 64 * 1024;
    const sink = await open(t, options(null, { terminal: output, maxBufferedBytes, timeoutMs: 1000 }));
    const n = 200_000;
    let peak = 0;
    for (let i = 1; i <= n; i++) {
      sink.write(lineText(i));
      peak = Math.max(peak, sink.pendingBytes + output.writableLength);
    }
    // One line reached the stream before it stalled; the rest waited in the bound or were dropped.
    assert.ok(peak <= maxBufferedBytes + 4096, `held ${peak} bytes`);
    assert.ok(sink.dropped > n / 2, `dropped ${sink.dropped}`);
    const droppedWhileStalled = sink.dropped;

    output.release();
    await until('the backlog is written', () => sink.pendingBytes === 0);
    sink.write('line after recovery');
    await sink.close();
    assert.equal(sink.dropped, droppedWhileStalled);

    const lines = Buffer.concat(output.chunks).toString().trimEnd().split('\n');
    const notices = lines.filter((l) => l.includes('log sink dropped'));
    assert.equal(notices.length, 1);
    assert.match(notices[0] ?? '', new RegExp(`WARN log-sink log sink dropped ${droppedWhileStalled} log lines: the log output did not keep up$`));
    const delivered = lines.filter((l) => l.startsWith('line ') && l !== 'line after recovery');
    assert.equal(delivered.length + droppedWhileStalled, n);
    // What survived is the head of the sequence, in order, then the notice, then later lines.
    assert.deepEqual(
      delivered.map((l) => l),
      Array.from({ length: delivered.length }, (_, k) => lineText(k + 1)),
    );
    assert.deepEqual(lines.slice(-2).map((l) => l.includes('log sink dropped') || l), [true, 'line after recovery']);
  });

  it('survives a terminal that is gone (EPIPE): reports once, counts the lines, never throws', async (t) => {
    const errors: Error[] = [];
    const output = new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const sink = await open(t, options(null, { terminal: output, onError: (e) => errors.push(e) }));
    sink.write('first');
    await until('the failure is seen', () => errors.length > 0);
    for (let i = 0; i < 10; i++) sink.write(`more ${i}`);
    await sink.close();
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as NodeJS.ErrnoException).code, 'EPIPE');
    assert.equal(sink.dropped, 11);
  });

  it('survives a full disk: reports once, even across its own retries, and counts the lost lines', async (t) => {
    if (!existsSync('/dev/full')) return t.skip('no /dev/full here');
    const errors: Error[] = [];
    // /dev/full opens fine and fails every write with ENOSPC, like a disk that filled after open.
    const sink = await open(t, options('/dev/full', { rotate: 'external', onError: (e) => errors.push(e) }));
    sink.write('lost');
    await until('the failure is seen', () => errors.length > 0);
    sink.write('waits for the retry');
    // The sink reopens a failed file on its own (after about a second); the retry fails the same way.
    await until('the retry fails too', () => sink.dropped >= 2);
    await sink.close();
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as NodeJS.ErrnoException).code, 'ENOSPC');
  });

  it('writes to process.stdout by default and reopen() is a no-op there', async (t) => {
    const sink = await open(t, options(null));
    assert.equal(sink.path, null);
    await sink.reopen();
    await sink.close();
  });
});

/** An output that takes writes but completes none until released: a stalled disk or a frozen reader. */
class StallingWritable extends Writable {
  readonly chunks: Buffer[] = [];
  private held: (() => void)[] = [];
  private flowing = false;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk);
    if (this.flowing) callback();
    else this.held.push(callback);
  }

  release(): void {
    this.flowing = true;
    for (const callback of this.held.splice(0)) callback();
  }
}
