/**
 * Cuts a byte stream (a child's stdout or stderr) into runs of whole lines.
 *
 * The log sink may only hand whole lines to rotating-file-stream, which rotates between writes:
 * a write that ended mid-line would leave half a line in each file. So each chunk is cut at its
 * last newline; everything before it leaves as one slice (no per-line work), and only the tail
 * after it is kept until its newline arrives.
 */

const NEWLINE = 0x0a;

/** Above this, a line without a newline is cut short: a child that never ends a line must not grow the launcher's memory. */
export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

const TRUNCATED_MARK = Buffer.from(' [line truncated]\n');

export class LineSplitter {
  private readonly maxLineBytes: number;
  /** The bytes of the unfinished line; several parts only while a long line keeps arriving in pieces. */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** The current line passed maxLineBytes: its prefix is kept, the rest is skipped up to the newline. */
  private truncating = false;

  constructor(maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    this.maxLineBytes = maxLineBytes;
  }

  /** Bytes held for an unfinished line. */
  get pendingBytes(): number {
    return this.partBytes;
  }

  /**
   * Takes the next chunk; returns the whole lines it completes (each ending in '\n'), or null when
   * it completes none. The returned buffer may share memory with `chunk`.
   */
  push(chunk: Buffer): Buffer | null {
    const last = chunk.lastIndexOf(NEWLINE);
    if (last === -1) {
      this.hold(chunk);
      return null;
    }
    let out: Buffer;
    if (this.partBytes === 0 && !this.truncating) {
      out = last === chunk.length - 1 ? chunk : chunk.subarray(0, last + 1);
    } else {
      out = this.completeHeld(chunk, last);
    }
    this.parts = [];
    this.partBytes = 0;
    this.truncating = false;
    if (last < chunk.length - 1) {
      // A copy, so the held tail does not pin the whole (often 64 KiB) chunk in memory.
      this.hold(Buffer.from(chunk.subarray(last + 1)));
    }
    return out;
  }

  /** The held partial line, ended with a newline (the stream ended without one), or null. */
  flush(): Buffer | null {
    if (this.partBytes === 0 && !this.truncating) return null;
    const tail = this.truncating ? TRUNCATED_MARK : Buffer.from('\n');
    const out = Buffer.concat([...this.parts, tail]);
    this.parts = [];
    this.partBytes = 0;
    this.truncating = false;
    return out;
  }

  private hold(piece: Buffer): void {
    if (this.truncating) return;
    const room = this.maxLineBytes - this.partBytes;
    if (piece.length > room) {
      if (room > 0) this.parts.push(Buffer.from(piece.subarray(0, room)));
      this.partBytes += Math.max(room, 0);
      this.truncating = true;
      return;
    }
    this.parts.push(piece);
    this.partBytes += piece.length;
  }

  /** The held line completed by `chunk` up to its first newline, followed by the rest of `chunk` up to `last`. */
  private completeHeld(chunk: Buffer, last: number): Buffer {
    const first = chunk.indexOf(NEWLINE);
    const pieces = [...this.parts];
    if (this.truncating) {
      pieces.push(TRUNCATED_MARK);
    } else {
      const head = chunk.subarray(0, first);
      const room = this.maxLineBytes - this.partBytes;
      if (head.length > room) {
        pieces.push(head.subarray(0, room), TRUNCATED_MARK);
      } else {
        pieces.push(chunk.subarray(0, first + 1));
      }
    }
    if (last > first) pieces.push(chunk.subarray(first + 1, last + 1));
    return Buffer.concat(pieces);
  }
}
