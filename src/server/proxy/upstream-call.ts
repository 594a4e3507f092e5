/**
 * One request to an upstream, on undici's dispatcher handler API rather than `undici.request()`:
 * the answer's body arrives as plain callbacks instead of through a Readable stream, a promise
 * per read and an AsyncResource hop per event. Dropping them made the gateway 21% faster (see
 * docs/decisions.md, "Upstream calls on dispatch()").
 *
 * Chunks that arrive before the relay attaches (a small answer comes in the same socket read as
 * its headers) wait in a short queue; after that each chunk goes to the sink the moment undici
 * parses it. Pausing pauses undici's parser, hence the socket: a slow client slows the upstream.
 * Exactly one of the sink's `end` and `error` is called; an abort reaches it as `error`.
 */
import type { Dispatcher } from 'undici';

export interface UpstreamRequest {
  /** Absolute URL: origin and path. */
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface BodySink {
  data(chunk: Buffer): void;
  end(): void;
  error(error: Error): void;
}

type Headers = Record<string, string | string[] | undefined>;

export class UpstreamCall implements Dispatcher.DispatchHandler {
  statusCode = 0;
  headers: Headers = {};

  #controller: Dispatcher.DispatchController | null = null;
  #abortReason: Error | null = null;
  #started: ((call: UpstreamCall) => void) | null = null;
  #failedToStart: ((error: Error) => void) | null = null;
  #sink: BodySink | null = null;
  /** Chunks parsed before a sink attached, or while it was paused. */
  #queue: Buffer[] = [];
  #queued = 0;
  #paused = false;
  /** What ended the body before the sink could hear it: null (still open), 'end' or the error. */
  #ending: 'end' | Error | null = null;
  #done = false;

  /** Sends the request; resolves with the call once the response's status and headers are in. */
  static start(dispatcher: Dispatcher, request: UpstreamRequest): { call: UpstreamCall; response: Promise<UpstreamCall> } {
    const call = new UpstreamCall();
    const response = new Promise<UpstreamCall>((resolve, reject) => {
      call.#started = resolve;
      call.#failedToStart = reject;
    });
    const slash = request.url.indexOf('/', request.url.indexOf('//') + 2);
    const origin = slash === -1 ? request.url : request.url.slice(0, slash);
    const path = slash === -1 ? '/' : request.url.slice(slash);
    dispatcher.dispatch({ origin, path, method: request.method as Dispatcher.HttpMethod, headers: request.headers, body: request.body }, call);
    return { call, response };
  }

  /** Bytes received and not yet handed to a sink. */
  get buffered(): number {
    return this.#queued;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Ends the exchange: before the response, its promise rejects with `reason`; after, the sink's
   * `error` hears it (now, or when it attaches), unless the body had already ended.
   */
  abort(reason: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#queue = [];
    this.#queued = 0;
    this.#paused = false;
    this.#ending = reason;
    if (this.#controller === null) this.#abortReason = reason;
    else this.#controller.abort(reason);
    this.#flush();
  }

  /** Hands the body to `sink`: what already arrived first, then each chunk as it comes. */
  attach(sink: BodySink): void {
    this.#sink = sink;
    this.#flush();
  }

  pause(): void {
    this.#paused = true;
    this.#controller?.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#flush();
    if (!this.#paused) this.#controller?.resume();
  }

  /** The whole body, at most `limit` bytes (the rest is not read: the exchange is aborted). */
  collect(limit: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      this.attach({
        data: (chunk) => {
          if (size + chunk.length > limit) {
            chunks.push(chunk.subarray(0, limit - size));
            size = limit;
            resolve(Buffer.concat(chunks, size));
            this.abort(new Error('the upstream body exceeded its limit'));
            return;
          }
          chunks.push(chunk);
          size += chunk.length;
        },
        end: () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)),
        error: reject,
      });
    });
  }

  #flush(): void {
    while (this.#sink !== null && !this.#paused && this.#queue.length > 0) {
      const chunk = this.#queue.shift() as Buffer;
      this.#queued -= chunk.length;
      this.#sink.data(chunk);
    }
    if (this.#sink === null || this.#paused || this.#queue.length > 0 || this.#ending === null) return;
    const sink = this.#sink;
    const ending = this.#ending;
    this.#sink = null;
    this.#ending = null;
    if (ending === 'end') sink.end();
    else sink.error(ending);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortReason !== null) controller.abort(this.#abortReason);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Headers): void {
    this.statusCode = statusCode;
    this.headers = headers;
    // undici keeps the raw header Buffers on the controller for the whole exchange; parsed, they
    // are dead weight (a dozen Buffers per held stream).
    controller.rawHeaders = null;
    const started = this.#started;
    this.#started = null;
    this.#failedToStart = null;
    started?.(this);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#done) return;
    if (this.#sink !== null && !this.#paused && this.#queue.length === 0) {
      this.#sink.data(chunk);
      return;
    }
    // Before the sink attaches this is at most one socket read: the relay attaches in the same
    // turn as the response promise settles. Pausing the parser for it would cost every request.
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    if (this.#paused) controller.pause();
  }

  onResponseEnd(): void {
    if (this.#done) return;
    this.#done = true;
    this.#ending = 'end';
    this.#flush();
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    const failedToStart = this.#failedToStart;
    this.#started = null;
    this.#failedToStart = null;
    if (failedToStart !== null) {
      this.#done = true;
      failedToStart(error);
      return;
    }
    if (this.#done) return;
    this.#done = true;
    this.#ending = error;
    this.#flush();
  }
}
