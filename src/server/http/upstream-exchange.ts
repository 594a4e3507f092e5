/**
 * The second stage of an upstream attempt: one call in flight and what may end it before a relay
 * owns the answer — the client leaving, the gateway's forced shutdown, the provider's total
 * timeout, or the upstream failing. One object per attempt holds the listeners and the timer
 * (the function it replaces made six closures for them); `end` says which of those it was.
 */
import type { ServerResponse } from 'node:http';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { UpstreamCall } from '../proxy/upstream-call.ts';
import type { ShutdownSignal } from './shutdown-signal.ts';

/** How an exchange ended before its answer was relayed. */
export type ExchangeEnd = 'timeout' | 'aborted' | 'network';

export class UpstreamExchange {
  readonly call: UpstreamCall;
  /** Settles when the status and headers are in; rejects if the call failed first. */
  readonly response: Promise<UpstreamCall>;
  readonly sentAt: number;
  readonly #res: ServerResponse;
  readonly #shutdown: ShutdownSignal;
  readonly #timer: ReturnType<typeof setTimeout> | null;
  #aborted = false;
  #timedOut = false;

  /** `totalMs`: the provider's timeouts.total, bounding the whole exchange, the relay included (0: none). */
  constructor(dispatcher: Dispatcher, request: { url: string; headers: Record<string, string>; payload: Buffer }, res: ServerResponse, shutdown: ShutdownSignal, totalMs: number) {
    this.sentAt = Date.now();
    const { call, response } = UpstreamCall.start(dispatcher, { url: request.url, method: 'POST', headers: request.headers, body: request.payload });
    this.call = call;
    this.response = response;
    this.#res = res;
    this.#shutdown = shutdown;
    res.once('close', this.#onClose);
    shutdown.on(this.#onShutdown);
    this.#timer = totalMs > 0 ? setTimeout(this.#onTimeout, totalMs, totalMs) : null;
  }

  readonly #onClose = (): void => this.#abort(new Error('client disconnected'));
  readonly #onShutdown = (): void => this.#abort(new Error('the gateway is shutting down'));
  readonly #onTimeout = (totalMs: number): void => {
    this.#timedOut = true;
    this.#abort(new Error(`the upstream exceeded its total timeout of ${totalMs} ms`));
  };

  #abort(reason: Error): void {
    this.#aborted = true;
    this.call.abort(reason);
  }

  /** The client's close and the shutdown are the relay's to watch from here on; the timer keeps running. */
  detach(): void {
    this.#res.off('close', this.#onClose);
    this.#shutdown.off(this.#onShutdown);
  }

  stopTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
  }

  /** Detaches and stops the timer: nothing more can end this exchange. */
  settle(): void {
    this.detach();
    this.stopTimer();
  }

  /** Settles the exchange after `error` ended it, and says what that was. */
  end(error: unknown): ExchangeEnd {
    this.settle();
    if (this.#timedOut) return 'timeout';
    if (this.#aborted) return 'aborted';
    const timeout = error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.ConnectTimeoutError || error instanceof undiciErrors.BodyTimeoutError;
    return timeout ? 'timeout' : 'network';
  }
}
