/**
 * Relays an upstream response to the client as it arrives (DESIGN §8): every chunk is written
 * the moment it is read, never batched. While an upstream SSE stream is silent, keep-alive
 * comments are sent, but only at an event boundary, so they can never land inside an event. If
 * the upstream fails mid-stream the client's stream ends with an error event in its own format,
 * never a fake success; if the client goes away the upstream request is aborted at once.
 */
import type { ServerResponse } from 'node:http';
import { streamError, type ClientFormat } from '../errors/client-error.ts';
import type { ShutdownSignal } from '../http/shutdown-signal.ts';
import type { BodySink } from './upstream-call.ts';

/** The upstream answer's body (an UpstreamCall). */
export interface RelaySource {
  attach(sink: BodySink): void;
  pause(): void;
  resume(): void;
  readonly paused: boolean;
  /** Stops the upstream exchange; the sink hears `reason` as its error (the relay ignores it once finished). */
  abort(reason: Error): void;
}

/** Rewrites the stream on the way (cross-format translation); it writes through `RelayOptions.write`'s sink. */
export interface RelayTransform {
  push(chunk: Buffer): void;
  end(): void;
  fail(message: string): void;
  /** The client's stream was ended by an error event (the upstream reported one, or stopped short): nothing more will be written. */
  failed(): boolean;
}

export interface RelayOptions {
  /** When set, upstream bytes go through it instead of straight to the client. */
  transform?: (write: (text: string) => void) => RelayTransform;
  format: ClientFormat;
  /** The client is on the Responses API, whose streams end with a typed `error` event. */
  responses?: boolean;
  /** SSE keep-alive interval in ms; 0 disables. */
  keepAliveMs: number;
  /** Whether the response is an event stream (keep-alives and error events apply). */
  eventStream: boolean;
  /** Raised when the gateway forces its shutdown. */
  shutdown: ShutdownSignal;
  /** After a failure (a translated stream's included), close the connection without the final chunk, so the client sees an incomplete response. */
  cutOnFailure?: boolean;
}

export interface RelayResult {
  /** Bytes written to the client. */
  bytes: number;
  /** Time of the first byte written, ms since epoch; 0 if none. */
  firstByteAt: number;
  /** The last few KB of the body, where the final usage numbers are. */
  tail: string;
  /** The first few KB of the body: Anthropic reports the input tokens in its first event only. */
  head: string;
  /** How the relay ended. */
  outcome: 'complete' | 'client-gone' | 'upstream-failed' | 'shutdown';
}

const TAIL_BYTES = 4096;
const KEEPALIVE = ': keep-alive\n\n';

/** Whether written output now ends at an SSE event boundary ("\n\n" or "\r\n\r\n"). */
function endsEvent(previousLast: number, chunk: Buffer): boolean {
  const n = chunk.length;
  if (n === 0 || chunk[n - 1] !== 0x0a) return false;
  const before = n >= 2 ? chunk[n - 2] : previousLast;
  if (before === 0x0a) return true;
  return before === 0x0d && n >= 3 && chunk[n - 3] === 0x0a;
}

export function relay(body: RelaySource, res: ServerResponse, options: RelayOptions): Promise<RelayResult> {
  return new Promise((resolve) => new Relay(body, res, options, resolve).start());
}

/**
 * One relay's state. A class rather than a function of closures: a held stream keeps this
 * object alive for as long as it lasts, and a dozen closures with their shared context cost
 * several times the fields (docs/decisions.md, "Memory per held stream").
 */
class Relay implements BodySink {
  #bytes = 0;
  #firstByteAt = 0;
  // The first and last chunks, by reference (no copies on the hot path); decoded once at the end.
  // Created with their first chunk: `[chunk]` is sized for one, `[]` grows to 17 slots on push.
  #tail: Buffer[] | null = null;
  #tailBytes = 0;
  #head: Buffer[] | null = null;
  #headBytes = 0;
  #lastByte = 0x0a;
  #atBoundary = true;
  #finished = false;
  #timer: NodeJS.Timeout | null = null;
  readonly #transform: RelayTransform | null;
  readonly #onDrain = (): void => this.body.resume();
  readonly #onClientClose = (): void => this.#clientClosed();
  readonly #onShutdown = (): void => this.#shutdown();

  constructor(
    private readonly body: RelaySource,
    private readonly res: ServerResponse,
    private readonly options: RelayOptions,
    private readonly resolve: (result: RelayResult) => void,
  ) {
    // A translator emits whole events only, so its output is always at an event boundary.
    this.#transform = options.transform?.((text) => this.#out(text)) ?? null;
  }

  start(): void {
    this.res.on('close', this.#onClientClose);
    this.options.shutdown.on(this.#onShutdown);
    this.#armKeepAlive();
    // Last: what already arrived is relayed at once, and may finish the relay right here.
    this.body.attach(this);
  }

  data(chunk: Buffer): void {
    if (this.#finished) return;
    if (this.#head === null) this.#head = [chunk];
    else if (this.#headBytes < TAIL_BYTES) this.#head.push(chunk);
    this.#headBytes += chunk.length;
    const tail = this.#tail;
    this.#tailBytes += chunk.length;
    if (tail === null) this.#tail = [chunk];
    else {
      tail.push(chunk);
      while (tail.length > 1 && this.#tailBytes - (tail[0] as Buffer).length >= TAIL_BYTES) this.#tailBytes -= (tail.shift() as Buffer).length;
    }
    const transform = this.#transform;
    if (transform !== null) {
      transform.push(chunk);
      if (transform.failed()) this.#endTranslatedFailure();
      else this.#armKeepAlive();
      return;
    }
    this.#atBoundary = endsEvent(this.#lastByte, chunk);
    this.#lastByte = chunk[chunk.length - 1] ?? this.#lastByte;
    this.#out(chunk);
    this.#armKeepAlive();
  }

  end(): void {
    if (this.#finished) return;
    const transform = this.#transform;
    transform?.end();
    // A translated stream that stopped without saying why ends with an error event: a failure.
    if (transform?.failed() === true) {
      this.#endFailed();
      this.#finish('upstream-failed');
      return;
    }
    this.res.end();
    this.#finish('complete');
  }

  error(error: Error): void {
    if (this.#finished) return;
    this.#endWithError(502, `upstream stream failed: ${error.message}`);
    this.#finish('upstream-failed');
  }

  /** Writes to the client; a slow client slows the upstream read instead of growing our memory. */
  #out(data: Buffer | string): void {
    if (this.#firstByteAt === 0) this.#firstByteAt = Date.now();
    this.#bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (!this.res.write(data) && !this.body.paused) {
      this.body.pause();
      this.res.once('drain', this.#onDrain);
    }
  }

  #armKeepAlive(): void {
    if (!this.options.eventStream || this.options.keepAliveMs <= 0) return;
    if (this.#timer !== null) this.#timer.refresh();
    else this.#timer = setTimeout(keepAliveTick, this.options.keepAliveMs, this);
  }

  /** The keep-alive timer fired: the stream was silent for a whole interval. */
  tick(): void {
    if (this.#atBoundary && !this.res.destroyed) this.res.write(KEEPALIVE);
    this.#timer?.refresh();
  }

  #finish(outcome: RelayResult['outcome']): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.res.off('drain', this.#onDrain);
    this.res.off('close', this.#onClientClose);
    this.options.shutdown.off(this.#onShutdown);
    const tail = decode(this.#tail);
    // A whole answer in one chunk (most non-streamed ones) is both: decoded once.
    const head = this.#head?.length === 1 && this.#tail?.length === 1 && this.#head[0] === this.#tail[0] ? tail : decode(this.#head);
    this.resolve({ bytes: this.#bytes, firstByteAt: this.#firstByteAt, tail, head, outcome });
  }

  /** The error event that ends a passthrough stream, numbered after the last Responses event relayed. */
  #errorEvent(status: number, message: string): string {
    const options = this.options;
    if (options.responses !== true) return streamError(options.format, status, message);
    let last = -1;
    for (const m of decode(this.#tail).matchAll(/"sequence_number"\s*:\s*(\d+)/g)) last = Number(m[1]);
    return streamError(options.format, status, message, { responses: true, sequenceNumber: last + 1 });
  }

  /** Ends the client's response with an error in its format: an error event in a stream, else a reset connection. */
  #endWithError(status: number, message: string): void {
    const res = this.res;
    if (this.#transform !== null && !res.destroyed) {
      this.#transform.fail(message);
      this.#endFailed();
    } else if (this.options.eventStream && !res.destroyed) {
      if (!this.#atBoundary) res.write('\n\n');
      res.write(this.#errorEvent(status, message));
      this.#endFailed();
    } else {
      res.destroy();
    }
  }

  /** Ends the client's response after a failure: cleanly, or cut short (the error event is flushed first). */
  #endFailed(): void {
    const socket = this.res.socket;
    if (this.options.cutOnFailure !== true || socket === null) {
      this.res.end();
      return;
    }
    // The socket is ended only once all that was written to the response has gone out. The
    // response may still hold it: Node 24 keeps a tick's chunked writes in the response itself
    // (it corks the message, not just the socket, and frames the chunks on the next tick), so
    // ending the socket at once would send the FIN before the error event just written. An
    // empty write adds no chunk, and its callback runs after everything written before it.
    this.res.write('', () => socket.end());
  }

  /**
   * The upstream reported an error inside its stream and the translator ended the client's
   * stream with it: the client's response ends now (cut short where the client needs that to
   * notice) rather than when the upstream gets round to closing.
   */
  #endTranslatedFailure(): void {
    this.#endFailed();
    this.#finish('upstream-failed');
    this.body.abort(new Error('the upstream reported an error in its stream'));
  }

  #clientClosed(): void {
    if (this.#finished) return;
    this.#finish('client-gone');
    this.body.abort(new Error('client disconnected'));
  }

  #shutdown(): void {
    if (this.#finished) return;
    this.#endWithError(503, 'the gateway is shutting down and had to cut this stream');
    this.#finish('shutdown');
    // After finish(): the relay has said its last word, so the abort's error is not relayed.
    this.body.abort(new Error('the gateway is shutting down'));
  }
}

function decode(chunks: Buffer[] | null): string {
  return chunks === null ? '' : Buffer.concat(chunks).toString('utf8');
}

function keepAliveTick(relay: Relay): void {
  relay.tick();
}
