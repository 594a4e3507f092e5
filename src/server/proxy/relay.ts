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
  /** Stops the upstream exchange; the sink hears nothing more. */
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
  return new Promise((resolve) => {
    let bytes = 0;
    let firstByteAt = 0;
    // The last chunks, by reference (no copies on the hot path); decoded once at the end.
    const tailChunks: Buffer[] = [];
    let tailBytes = 0;
    const headChunks: Buffer[] = [];
    let headBytes = 0;
    let lastByte = 0x0a;
    let atBoundary = true;
    let finished = false;
    let timer: NodeJS.Timeout | null = null;
    const onDrain = (): void => {
      body.resume();
    };
    /** Writes to the client; a slow client slows the upstream read instead of growing our memory. */
    const out = (data: Buffer | string): void => {
      if (firstByteAt === 0) firstByteAt = Date.now();
      bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
      if (!res.write(data) && !body.paused) {
        body.pause();
        res.once('drain', onDrain);
      }
    };
    // A translator emits whole events only, so its output is always at an event boundary.
    const transform = options.transform?.((text) => out(text)) ?? null;

    const armKeepAlive = (): void => {
      if (!options.eventStream || options.keepAliveMs <= 0) return;
      if (timer !== null) timer.refresh();
      else
        timer = setTimeout(function tick() {
          if (atBoundary && !res.destroyed) res.write(KEEPALIVE);
          timer = setTimeout(tick, options.keepAliveMs);
        }, options.keepAliveMs);
    };

    const finish = (outcome: RelayResult['outcome']): void => {
      if (finished) return;
      finished = true;
      if (timer !== null) clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClientClose);
      options.shutdown.off(onShutdown);
      resolve({ bytes, firstByteAt, tail: Buffer.concat(tailChunks).toString('utf8'), head: Buffer.concat(headChunks).toString('utf8'), outcome });
    };

    /** The error event that ends a passthrough stream, numbered after the last Responses event relayed. */
    const errorEvent = (status: number, message: string): string => {
      if (options.responses !== true) return streamError(options.format, status, message);
      let last = -1;
      for (const m of Buffer.concat(tailChunks).toString('utf8').matchAll(/"sequence_number"\s*:\s*(\d+)/g)) last = Number(m[1]);
      return streamError(options.format, status, message, { responses: true, sequenceNumber: last + 1 });
    };

    const onData = (chunk: Buffer): void => {
      if (finished) return;
      if (headBytes < TAIL_BYTES) {
        headChunks.push(chunk);
        headBytes += chunk.length;
      }
      tailChunks.push(chunk);
      tailBytes += chunk.length;
      while (tailChunks.length > 1 && tailBytes - (tailChunks[0] as Buffer).length >= TAIL_BYTES) tailBytes -= (tailChunks.shift() as Buffer).length;
      if (transform !== null) {
        transform.push(chunk);
        if (transform.failed()) endTranslatedFailure();
        else armKeepAlive();
        return;
      }
      atBoundary = endsEvent(lastByte, chunk);
      lastByte = chunk[chunk.length - 1] ?? lastByte;
      out(chunk);
      armKeepAlive();
    };
    /** Ends the client's response after a failure: cleanly, or cut short (the error event is flushed first). */
    const endFailed = (): void => {
      if (options.cutOnFailure === true && res.socket !== null) res.socket.end();
      else res.end();
    };
    /**
     * The upstream reported an error inside its stream and the translator ended the client's
     * stream with it: the client's response ends now (cut short where the client needs that to
     * notice) rather than when the upstream gets round to closing.
     */
    const endTranslatedFailure = (): void => {
      endFailed();
      finish('upstream-failed');
      body.abort(new Error('the upstream reported an error in its stream'));
    };
    const onEnd = (): void => {
      if (finished) return;
      transform?.end();
      // A translated stream that stopped without saying why ends with an error event: a failure.
      if (transform?.failed() === true) {
        endFailed();
        finish('upstream-failed');
        return;
      }
      res.end();
      finish('complete');
    };
    const onError = (error: Error): void => {
      if (finished) return;
      if (transform !== null && !res.destroyed) {
        transform.fail(`upstream stream failed: ${error.message}`);
        endFailed();
      } else if (options.eventStream && !res.destroyed) {
        if (!atBoundary) res.write('\n\n');
        res.write(errorEvent(502, `upstream stream failed: ${error.message}`));
        endFailed();
      } else {
        res.destroy();
      }
      finish('upstream-failed');
    };
    const onClientClose = (): void => {
      if (finished) return;
      finish('client-gone');
      body.abort(new Error('client disconnected'));
    };
    const onShutdown = (): void => {
      if (finished) return;
      if (transform !== null && !res.destroyed) {
        transform.fail('the gateway is shutting down and had to cut this stream');
        endFailed();
      } else if (options.eventStream && !res.destroyed) {
        if (!atBoundary) res.write('\n\n');
        res.write(errorEvent(503, 'the gateway is shutting down and had to cut this stream'));
        endFailed();
      } else {
        res.destroy();
      }
      finish('shutdown');
      // After finish(): the relay has said its last word, so the abort's error is not relayed.
      body.abort(new Error('the gateway is shutting down'));
    };

    res.on('close', onClientClose);
    options.shutdown.on(onShutdown);
    armKeepAlive();
    // Last: what already arrived is relayed at once, and may finish the relay right here.
    body.attach({ data: onData, end: onEnd, error: onError });
  });
}
