/**
 * The launcher's log sink (DESIGN §1, §7): the server's stdout/stderr and the launcher's own lines
 * go to the terminal (or the journal) or to a log file, rotated daily by rotating-file-stream or
 * by an external logrotate that sends SIGUSR1.
 *
 * Three rules shape this module:
 * - Only whole lines reach a stream. rotating-file-stream rotates between write() calls, so a
 *   write that ended mid-line would leave half of it in each file.
 * - At most one write is in flight; lines that arrive meanwhile wait in one bounded batch and
 *   leave together as one write. Idle, a line is written at once; under load, writes coalesce
 *   (rotating-file-stream awaits one file write per chunk, so per-line chunks would cap
 *   throughput at the thread pool's round trips). Past the bound, lines are dropped and counted,
 *   and a line saying so is written where they would have been.
 * - A stream's errors (EPIPE, disk full) never crash the process; they are reported once.
 */
import { closeSync, constants, createWriteStream, fstatSync, openSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { createStream } from 'rotating-file-stream';
import type { Generator } from 'rotating-file-stream';
import { AppError } from '../shared/errors.ts';
import { errnoCode, FileProblem, kindOf, osReason, prepareFileTarget } from '../shared/files.ts';
import { LineSplitter } from './line-splitter.ts';

export interface LogSinkOptions {
  /** null → the terminal (process.stdout; under systemd that is the journal). */
  file: string | null;
  /** daily: rotating-file-stream, interval 1d. external: plain append, reopened on SIGUSR1 (logrotate). */
  rotate: 'daily' | 'external';
  /** Rotated files kept (daily only). */
  maxFiles: number;
  /** Rotate early when the file reaches this many bytes (daily only). A file may pass it by one write. */
  maxSize: number | null;
  /** gzip rotated files (daily only). */
  compress: boolean;
  /** Called once per failure of the output (disk full, EPIPE, a failed reopen), not once per lost line. */
  onError?: (error: Error) => void;
  /** Where lines go when `file` is null; process.stdout unless given. */
  terminal?: Writable;
  /** Bytes waiting for the output beyond which lines are dropped. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** Bound on every wait for the output: opening, closing, flushing at close. Default 5 s. */
  timeoutMs?: number;
  /** Formats the line that reports dropped lines, so it matches the logger's format. */
  formatNotice?: (message: string) => string;
}

export interface LogSink {
  /** One whole line, without its newline. */
  write(line: string): void;
  /** Forwards a child's stdout or stderr, line by line; a trailing partial line waits for its newline or the stream's end. */
  pipeFrom(stream: NodeJS.ReadableStream): void;
  /** Closes the file and opens the path anew (SIGUSR1). Lines written meanwhile wait and follow in order. */
  reopen(): Promise<void>;
  /** Resolves once every line written so far has reached the output, or after `timeoutMs`: never rejects. */
  drained(timeoutMs: number): Promise<void>;
  /** Writes out everything written so far (and held partial lines), then closes the file. */
  close(): Promise<void>;
  readonly path: string | null;
  /** Lines dropped since the sink opened, because the output stalled or failed. */
  readonly dropped: number;
  /** Bytes waiting for the output. */
  readonly pendingBytes: number;
}

const DEFAULT_MAX_BUFFERED = 8 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 5000;
const MAX_CHUNK = 256 * 1024;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30_000;
const NOTICE_BYTES_ESTIMATE = 100;

export async function openLogSink(options: LogSinkOptions): Promise<LogSink> {
  if (options.file === null) return new Sink(options, null, options.terminal ?? process.stdout);
  checkRotationOptions(options);
  const file = path.resolve(options.file);
  const sink = new Sink(options, file, null);
  await sink.open();
  return sink;
}

/** Where the lines dropped in one stall belong in the output, and how many they were. */
class DropMarker {
  lines = 0;
}

type Item = string | Buffer | DropMarker;

class Sink implements LogSink {
  readonly path: string | null;
  dropped = 0;

  private readonly options: LogSinkOptions;
  private readonly maxBuffered: number;
  private readonly timeoutMs: number;
  private readonly chunkLimit: number;
  private readonly formatNotice: (message: string) => string;

  private stream: Writable | null;
  /** The current stream failed; lines wait (bounded) for a reopen. */
  private broken = false;
  /** The terminal failed (EPIPE): nothing will ever be written again. */
  private dead = false;
  /** From a reopen() call until its new stream is open: writes wait in the batch. */
  private reopening = false;
  /** Items ever taken from the batch, so a position in it survives takes from its front. */
  private taken = 0;
  /** Items before this position were written before reopen() was called and belong to the old file. */
  private cut = 0;
  private inFlight = false;
  /** No more input is taken. */
  private closed = false;

  private items: Item[] = [];
  private sizes: number[] = [];
  private batchBytes = 0;
  /** The marker of the stall in progress; lines are dropped until the batch is half empty. */
  private openMarker: DropMarker | null = null;

  private readonly splitters = new Set<LineSplitter>();
  private errorReported = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay = RETRY_FIRST_MS;
  /** reopen() and close() run one after another, in call order. */
  private ops: Promise<void> = Promise.resolve();
  private queuedReopen: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private readonly onTerminalError: ((error: Error) => void) | null = null;
  /**
   * One name generator for every stream of this sink: a stream given up on by a reopen (settle's
   * bound) may still finish a rotation while its successor rotates, and two generators counting
   * the same second would give both files one name, the later rename replacing the earlier file.
   */
  private names: Generator | null = null;

  constructor(options: LogSinkOptions, file: string | null, terminal: Writable | null) {
    this.options = options;
    this.path = file;
    this.maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // A file may pass maxSize by one write, so writes stay well under it.
    const sizeCap = file !== null && options.rotate === 'daily' && options.maxSize !== null ? Math.max(1024, Math.floor(options.maxSize / 4)) : MAX_CHUNK;
    this.chunkLimit = Math.min(MAX_CHUNK, sizeCap);
    this.formatNotice = options.formatNotice ?? defaultNotice;
    this.stream = terminal;
    if (terminal !== null) {
      const onTerminalError = (error: Error): void => this.onStreamError(terminal, error);
      this.onTerminalError = onTerminalError;
      terminal.on('error', onTerminalError);
    }
  }

  get pendingBytes(): number {
    return this.batchBytes;
  }

  async open(): Promise<void> {
    this.stream = await this.openFile();
  }

  write(line: string): void {
    if (this.closed) return;
    const text = line + '\n';
    this.enqueue(text, Buffer.byteLength(text));
  }

  pipeFrom(stream: NodeJS.ReadableStream): void {
    // One splitter per stream: stdout and stderr each hand over only whole lines, so their
    // partial lines never meet.
    const splitter = new LineSplitter();
    this.splitters.add(splitter);
    const done = (): void => {
      if (!this.splitters.delete(splitter)) return;
      const rest = splitter.flush();
      if (rest !== null && !this.closed) this.enqueue(rest, rest.length);
    };
    stream.on('data', (chunk: Buffer | string) => {
      if (this.closed) return;
      const lines = splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      if (lines !== null) this.enqueue(lines, lines.length);
    });
    stream.once('end', done);
    stream.once('close', done);
    // A broken pipe from a dying child is routine; it must not become an uncaught exception.
    stream.on('error', done);
  }

  reopen(): Promise<void> {
    if (this.path === null || this.closing !== null) return Promise.resolve();
    // Decided now, not when the reopen gets to run: lines written after this call go to the new file.
    this.reopening = true;
    this.cut = this.taken + this.items.length;
    // A reopen that has not started yet will open the path after this call: it serves this caller too.
    if (this.queuedReopen !== null) return this.queuedReopen;
    const run = this.ops.then(() => {
      this.queuedReopen = null;
      return this.doReopen();
    });
    this.queuedReopen = run;
    this.ops = run.catch(() => undefined);
    return run;
  }

  async drained(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.batchBytes > 0 || this.inFlight || (this.stream?.writableLength ?? 0) > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  close(): Promise<void> {
    if (this.closing === null) this.closing = this.ops.then(() => this.doClose());
    return this.closing;
  }

  // --- batching -------------------------------------------------------------------------------

  private enqueue(item: string | Buffer, bytes: number): void {
    if (this.dead) {
      this.dropped += countLines(item);
      return;
    }
    const stalled = this.openMarker !== null ? this.batchBytes > this.maxBuffered / 2 : this.batchBytes + bytes > this.maxBuffered;
    if (stalled) {
      let marker = this.openMarker;
      if (marker === null) {
        marker = new DropMarker();
        this.openMarker = marker;
        this.push(marker, NOTICE_BYTES_ESTIMATE);
      }
      const lines = countLines(item);
      marker.lines += lines;
      this.dropped += lines;
      return;
    }
    this.openMarker = null;
    this.push(item, bytes);
    if (!this.inFlight) this.flush();
  }

  private push(item: Item, bytes: number): void {
    this.items.push(item);
    this.sizes.push(bytes);
    this.batchBytes += bytes;
  }

  /** Starts the next write if none is in flight and the output can take it. */
  private flush(): void {
    const stream = this.stream;
    if (this.inFlight || this.reopening || this.broken || stream === null || this.items.length === 0) return;
    this.inFlight = true;
    this.writeChunk(stream);
  }

  /** Hands the whole batch to the stream at once, for a stream about to be ended. */
  private flushAll(stream: Writable, upTo: number = Infinity): void {
    while (this.items.length > 0 && this.taken < upTo) this.writeChunk(stream, upTo - this.taken);
  }

  private writeChunk(stream: Writable, maxItems: number = Infinity): void {
    const chunk = this.takeChunk(maxItems);
    stream.write(chunk, (error) => this.onWritten(stream, chunk, error));
  }

  /** Takes whole items from the front of the batch, up to about chunkLimit bytes, as one string or buffer. */
  private takeChunk(maxItems: number): string | Buffer {
    let count = 0;
    let bytes = 0;
    while (count < this.items.length && count < maxItems && (count === 0 || bytes < this.chunkLimit)) {
      bytes += this.sizes[count] ?? 0;
      count += 1;
    }
    this.taken += count;
    let taken: Item[];
    if (count === this.items.length) {
      taken = this.items;
      this.items = [];
      this.sizes = [];
      this.batchBytes = 0;
    } else {
      taken = this.items.splice(0, count);
      this.sizes.splice(0, count);
      this.batchBytes -= bytes;
    }
    if (taken.length === 1 && !(taken[0] instanceof DropMarker) && taken[0] !== undefined) return taken[0];
    const parts: (string | Buffer)[] = [];
    let total = 0;
    for (const item of taken) {
      const part = item instanceof DropMarker ? this.renderMarker(item) : item;
      parts.push(part);
      total += typeof part === 'string' ? Buffer.byteLength(part) : part.length;
    }
    const out = Buffer.allocUnsafe(total);
    let offset = 0;
    for (const part of parts) offset += typeof part === 'string' ? out.write(part, offset) : part.copy(out, offset);
    return out;
  }

  private renderMarker(marker: DropMarker): string {
    // Written now: the stall it reports is over, and new drops start a new marker.
    if (this.openMarker === marker) this.openMarker = null;
    return this.formatNotice(`log sink dropped ${marker.lines} log line${marker.lines === 1 ? '' : 's'}: the log output did not keep up`) + '\n';
  }

  private onWritten(stream: Writable, chunk: string | Buffer, error: Error | null | undefined): void {
    // A stream replaced by a reopen or failed already: its late callbacks change nothing.
    if (stream !== this.stream) return;
    if (error) {
      this.dropped += countLines(chunk);
      this.onStreamError(stream, error);
      return;
    }
    this.inFlight = false;
    // Recovered only once a write lands: a reopen onto a still-full disk is the same failure, reported once.
    if (this.errorReported) {
      this.errorReported = false;
      this.retryDelay = RETRY_FIRST_MS;
    }
    this.flush();
  }

  // --- failures -------------------------------------------------------------------------------

  private onStreamError(stream: Writable, error: Error): void {
    if (stream !== this.stream) return;
    this.inFlight = false;
    this.report(error);
    if (this.path === null) {
      this.dead = true;
      this.dropped += this.items.reduce((sum, item) => sum + countLines(item), 0);
      this.items = [];
      this.sizes = [];
      this.batchBytes = 0;
      return;
    }
    if (this.broken) return;
    this.broken = true;
    stream.destroy();
    this.scheduleRetry();
  }

  private report(error: Error): void {
    if (this.errorReported) return;
    this.errorReported = true;
    try {
      this.options.onError?.(error);
    } catch {
      // The reporter's own failure must not take the sink down with it.
    }
  }

  /** A failed file is opened anew with backoff, so a transient disk-full does not end logging for good. */
  private scheduleRetry(): void {
    if (this.retryTimer !== null || this.closing !== null) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      // A failed attempt schedules the next one itself.
      this.reopen().catch(() => undefined);
    }, delay);
    this.retryTimer.unref();
  }

  // --- reopen and close -----------------------------------------------------------------------

  private async doReopen(): Promise<void> {
    if (this.closed || this.path === null) return;
    // Captured at the start: a reopen() called while this one runs moves the cut for the next one.
    const cut = this.cut;
    this.reopening = true;
    try {
      try {
        // Before closing the working stream: if the path cannot be opened now, keep writing to it.
        probeFile(this.path, this.options.rotate);
      } catch (error) {
        // A working stream stays; the caller hears why. A broken one has no caller to tell.
        if (this.broken) {
          this.report(error as Error);
          this.scheduleRetry();
        }
        throw error;
      }
      const old = this.stream;
      if (old !== null) {
        if (this.broken) old.destroy();
        else {
          this.flushAll(old, cut);
          if (!(await settle(old, this.timeoutMs))) this.report(new Error(`the log file stream made no progress for ${this.timeoutMs / 1000}s during a reopen; lines it still held may be lost`));
        }
      }
      this.inFlight = false;
      try {
        this.stream = await this.openFile();
      } catch (error) {
        this.stream = null;
        this.broken = true;
        this.report(error as Error);
        this.scheduleRetry();
        throw error;
      }
      this.broken = false;
      if (this.retryTimer !== null) clearTimeout(this.retryTimer);
      this.retryTimer = null;
    } finally {
      // A reopen called meanwhile keeps the batch held: its lines belong to the file it opens.
      if (this.queuedReopen === null) {
        this.reopening = false;
        this.flush();
      }
    }
  }

  private async doClose(): Promise<void> {
    for (const splitter of this.splitters) {
      const rest = splitter.flush();
      if (rest !== null) this.enqueue(rest, rest.length);
    }
    this.splitters.clear();
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const stream = this.stream;
    if (stream === null || this.broken || this.dead) {
      this.dropped += this.items.reduce((sum, item) => sum + countLines(item), 0);
      if (stream !== null && this.path !== null) stream.destroy();
      this.detachTerminal();
      return;
    }
    this.flushAll(stream);
    if (this.path !== null) {
      if (!(await settle(stream, this.timeoutMs))) this.report(new Error(`the log file stream made no progress for ${this.timeoutMs / 1000}s while closing; lines it still held may be lost`));
      return;
    }
    // The terminal is not ours to end; a zero-length write calls back once everything before it is out.
    await withTimeout(new Promise<void>((resolve) => stream.write(Buffer.alloc(0), () => resolve())), this.timeoutMs);
    this.detachTerminal();
  }

  private detachTerminal(): void {
    if (this.onTerminalError !== null) this.stream?.off('error', this.onTerminalError);
  }

  private async openFile(): Promise<Writable> {
    const file = this.path;
    if (file === null) throw new Error('log sink: no file to open');
    probeFile(file, this.options.rotate);
    const stream: Writable =
      this.options.rotate === 'external'
        ? createWriteStream(file, { flags: 'a', mode: 0o644 })
        : createStream((this.names ??= rotatedNames(file, this.options.compress)), rfsOptions(file, this.options));
    // Attached before the open completes, so no error of this stream is ever unhandled; it
    // counts only once the stream is the current one.
    stream.on('error', (error: Error) => this.onStreamError(stream, error));
    try {
      await once(stream, 'open', { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      stream.destroy();
      throw logFileError(file, error);
    }
    return stream;
  }
}

// --- files --------------------------------------------------------------------------------------

/**
 * Creates the directory and opens the file for appending once, so a bad path fails at once with
 * the real reason (files.ts: FIFOs, pseudo-filesystems, dangling links) rather than in the stream.
 */
function probeFile(file: string, rotate: LogSinkOptions['rotate']): void {
  // A device (/dev/null, a terminal) cannot be rotated by renaming; logrotate's mode leaves it alone.
  const target = { what: 'log file', followSymlink: true, allowCharDevice: rotate === 'external' };
  try {
    prepareFileTarget(file, target);
    // O_NONBLOCK: a FIFO with no reader answers ENXIO instead of blocking the open for ever.
    const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK, 0o644);
    try {
      const stats = fstatSync(fd);
      if (!stats.isFile() && !(target.allowCharDevice && stats.isCharacterDevice())) throw new FileProblem(`log file ${file} is ${kindOf(stats)}, not a regular file`);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw logFileError(file, error);
  }
}

function logFileError(file: string, error: unknown): AppError {
  if (error instanceof AppError) return error;
  const message = error instanceof FileProblem ? error.message : `cannot write log file ${file}: ${errnoCode(error) === 'ABORT_ERR' ? 'opening it timed out' : osReason(error)}`;
  return new AppError('E_LOG_DIR', message, {
    details: ['choose a writable log file path, or fix the permissions of its directory'],
    cause: error,
  });
}

function checkRotationOptions(options: LogSinkOptions): void {
  if (options.rotate !== 'daily') return;
  // rotating-file-stream throws on these at the first rotation's setup; say so at open instead.
  if (!Number.isInteger(options.maxFiles) || options.maxFiles < 1) throw new RangeError(`log sink: maxFiles must be a positive integer, got ${options.maxFiles}`);
  if (options.maxSize !== null && (!Number.isInteger(options.maxSize) || options.maxSize < 1)) {
    throw new RangeError(`log sink: maxSize must be a positive integer or null, got ${options.maxSize}`);
  }
}

function rfsOptions(file: string, options: LogSinkOptions): Parameters<typeof createStream>[1] {
  // rotating-file-stream rejects keys whose value is undefined, so optional ones are left out.
  return {
    path: path.dirname(file),
    interval: '1d',
    maxFiles: options.maxFiles,
    // Its default list of rotated files is "<name>.txt" beside the log; a dot file stays out of log globs.
    history: `.${path.basename(file)}.history`,
    mode: 0o644,
    ...(options.maxSize !== null ? { size: `${options.maxSize}B` } : {}),
    ...(options.compress ? { compress: 'gzip' as const } : {}),
  };
}

/**
 * `ai-proxy.log` for the current file, `ai-proxy-20240131-235959-0001.log[.gz]` for rotated ones,
 * sorting by time. The last part counts the rotations of one second itself: rotating-file-stream's
 * own index restarts at the first free name, so once retention has deleted `-001` a later
 * rotation in the same second would take that name again and sort before its elder. A name
 * that exists (a restart within the same second) makes it ask again, and the count moves on.
 */
export function rotatedNames(file: string, compress: boolean): Generator {
  const base = path.basename(file);
  const ext = path.extname(base);
  const stem = ext === '' ? base : base.slice(0, -ext.length);
  const suffix = compress ? `${ext}.gz` : ext;
  let second = '';
  let count = 0;
  return (time) => {
    // rotating-file-stream asks for the current name with a null time, which its types omit.
    if (time === null || time === undefined) return base;
    const d = typeof time === 'number' ? new Date(time) : time;
    const stamp = `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
    if (stamp !== second) {
      second = stamp;
      count = 0;
    }
    count += 1;
    return `${stem}-${stamp}-${String(count).padStart(4, '0')}${suffix}`;
  };
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

// --- helpers ------------------------------------------------------------------------------------

/**
 * rotating-file-stream's signs of life while it rotates: each step of a rotation (rename, history,
 * retention, reopen) says so. A rotation in progress cannot be stopped: destroy() closes the
 * stream but the rename and the reopen still happen, and they would move the file from under
 * the stream that replaces this one (seen under load: its next rotation then fails ENOENT).
 */
const PROGRESS_EVENTS = ['rotation', 'rotated', 'history', 'removed', 'open'] as const;

/**
 * Ends a stream and waits until its data is written and its file closed; bounded by `timeoutMs`
 * without progress, so a stalled disk cannot hold a reopen or a stop, while a stream that is
 * still writing (what it holds shrinks) or rotating its files (each step of which it reports) is
 * let finish, however loaded the machine. False when it was given up on and destroyed.
 */
async function settle(stream: Writable, timeoutMs: number): Promise<boolean> {
  stream.end();
  let timer: NodeJS.Timeout | undefined;
  let held = stream.writableLength;
  const stalled = new Promise<false>((resolve) => {
    timer = setTimeout(function check() {
      // Progress since the last look: writes landed. Look again later rather than give up.
      if (stream.writableLength < held) {
        held = stream.writableLength;
        timer = setTimeout(check, timeoutMs);
        return;
      }
      resolve(false);
    }, timeoutMs);
  });
  const alive = (): void => void timer?.refresh();
  for (const event of PROGRESS_EVENTS) stream.on(event, alive);
  const done = finished(stream).then(
    () => true,
    () => true,
  );
  try {
    if (await Promise.race([done, stalled])) return true;
    stream.destroy();
    return false;
  } finally {
    clearTimeout(timer);
    for (const event of PROGRESS_EVENTS) stream.off(event, alive);
  }
}

/** The promise's value, or false when it takes longer than `ms`. */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | false> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function countLines(item: Item): number {
  if (item instanceof DropMarker) return 0;
  if (typeof item === 'string') {
    let n = 0;
    for (let i = item.indexOf('\n'); i !== -1; i = item.indexOf('\n', i + 1)) n += 1;
    return n;
  }
  let n = 0;
  for (let i = item.indexOf(0x0a); i !== -1; i = item.indexOf(0x0a, i + 1)) n += 1;
  return n;
}

function defaultNotice(message: string): string {
  return `${new Date().toISOString()} WARN log-sink ${message}`;
}
