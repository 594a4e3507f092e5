/**
 * The server's only way out for log lines: its stdout, a pipe the launcher drains into the
 * terminal or the log file (DESIGN §1). The pipe is bounded: when the launcher's sink stalls,
 * access lines are dropped (and counted) instead of growing memory; event lines are always kept,
 * they are rare and matter. EPIPE (the launcher is gone) must never crash the server: it notices
 * the broken IPC channel and shuts down by itself.
 */
const DROP_ABOVE_BYTES = 4 * 1024 * 1024;

export class Output {
  #dropped = 0;
  #droppedTotal = 0;
  #broken = false;

  constructor(private readonly stream: NodeJS.WritableStream & { writableLength?: number } = process.stdout) {
    stream.on('error', () => {
      this.#broken = true;
    });
  }

  /** Lines dropped since start (a metric). */
  get dropped(): number {
    return this.#droppedTotal;
  }

  /** A line that may be dropped under backpressure (access log). */
  droppable(line: string): void {
    if (this.#broken) return;
    if ((this.stream.writableLength ?? 0) > DROP_ABOVE_BYTES) {
      this.#dropped++;
      this.#droppedTotal++;
      return;
    }
    this.#flushDropNotice();
    this.stream.write(line + '\n');
  }

  /** A line that is always written (lifecycle events, errors). */
  line(line: string): void {
    if (this.#broken) return;
    this.#flushDropNotice();
    this.stream.write(line + '\n');
  }

  #flushDropNotice(): void {
    if (this.#dropped === 0 || (this.stream.writableLength ?? 0) > DROP_ABOVE_BYTES) return;
    const count = this.#dropped;
    this.#dropped = 0;
    this.stream.write(`${new Date().toISOString()} WARN server dropped ${count} access log lines: the log sink was not keeping up\n`);
  }
}
