/**
 * The server's only way out for log lines: its stdout, a pipe the launcher drains into the
 * terminal or the log file (DESIGN §1). The pipe is bounded: when the launcher's sink stalls,
 * access lines are dropped (and counted) instead of growing memory; event lines are always kept,
 * they are rare and matter. EPIPE (the launcher is gone) must never crash the server: it notices
 * the broken IPC channel and shuts down by itself.
 *
 * Access lines are gathered and leave together, every FLUSH_MS or once FLUSH_BYTES are pending:
 * a pipe write is a system call (synchronous on Linux) and wakes the launcher for a read and a
 * file write, on the same core under load. One write per request cost the server ~40% of its
 * throughput; one per event-loop turn still 9% of its CPU at 20k req/s (docs/decisions.md, "The
 * access log bypasses tslog"). Event lines flush what is pending first, so the order is kept;
 * so does the process's exit. A SIGKILL loses at most the last FLUSH_MS of access lines.
 */
const DROP_ABOVE_BYTES = 4 * 1024 * 1024;
const FLUSH_MS = 20;
const FLUSH_BYTES = 64 * 1024;

export class Output {
  #dropped = 0;
  #droppedTotal = 0;
  #broken = false;
  /** Access lines not written yet, written together. */
  #pending = '';
  #pendingBytes = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(private readonly stream: NodeJS.WritableStream & { writableLength?: number } = process.stdout) {
    stream.on('error', () => {
      this.#broken = true;
    });
    process.once('exit', this.#flush);
  }

  /** Lines dropped since start (a metric). */
  get dropped(): number {
    return this.#droppedTotal;
  }

  /** A line that may be dropped under backpressure (access log); written within FLUSH_MS. */
  droppable(line: string): void {
    if (this.#broken) return;
    if ((this.stream.writableLength ?? 0) + this.#pendingBytes > DROP_ABOVE_BYTES) {
      this.#dropped++;
      this.#droppedTotal++;
      return;
    }
    this.#pending += line + '\n';
    this.#pendingBytes += line.length + 1;
    if (this.#pendingBytes >= FLUSH_BYTES) this.#flush();
    // Unreferenced: pending lines never keep the process alive; its exit flushes them.
    else this.#timer ??= setTimeout(this.#flush, FLUSH_MS).unref();
  }

  /** A line that is always written (lifecycle events, errors), at once. */
  line(line: string): void {
    if (this.#broken) return;
    this.#flush();
    this.stream.write(line + '\n');
  }

  readonly #flush = (): void => {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#broken) return;
    this.#flushDropNotice();
    if (this.#pending === '') return;
    const text = this.#pending;
    this.#pending = '';
    this.#pendingBytes = 0;
    this.stream.write(text);
  };

  #flushDropNotice(): void {
    if (this.#dropped === 0 || (this.stream.writableLength ?? 0) > DROP_ABOVE_BYTES) return;
    const count = this.#dropped;
    this.#dropped = 0;
    this.stream.write(`${new Date().toISOString()} WARN server dropped ${count} access log lines: the log sink was not keeping up\n`);
  }
}
