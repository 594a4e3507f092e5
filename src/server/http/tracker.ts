/**
 * Connections and requests in flight, for the graceful stop (DESIGN §2): stop accepting, let
 * in-flight requests and streams finish, close idle keep-alive connections as they become idle,
 * and at the deadline abort what is left (each request's signal lets a stream end with an error
 * event in its client's format) and destroy the sockets.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { ShutdownSignal } from './shutdown-signal.ts';

/**
 * After a forced stop aborts what is in flight, the last words (a stream's error event, a 503
 * for a request whose answer had not started) get this long to leave before the sockets go.
 */
const FORCE_FLUSH_MS = 50;

/**
 * A polite drain keeps idle keep-alive connections this much longer than the timeout it
 * announced (`Keep-Alive: timeout=N`). A client stops reusing a connection about 1 s before N
 * (Node's agent, undici), but one whose event loop lags past that still sends on it; closing at
 * N would race that request. The extra time costs nothing with clients that close on time.
 */
const POLITE_IDLE_GRACE_MS = 5_000;

/**
 * How long a stop waits for fresh connections (accepted just before it, no request yet) to send
 * their request, which is then answered. A request already on its way arrives within
 * milliseconds; a client that opened a connection ahead of need does not hold the stop longer.
 */
const FRESH_GRACE_MS = 2_000;

export class RequestTracker {
  #inFlight = 0;
  #streams = 0;
  #draining = false;
  /** Set once force() cut what was in flight: the drain it ends is a forced one. */
  #forced = false;
  readonly #sockets = new Set<Socket>();
  /** Each request in flight, with its response: a drain turns off keep-alive on those not answered yet. */
  readonly #aborts = new Map<ShutdownSignal, ServerResponse>();
  /** Requests in flight per socket (pipelining can put two on one): the others are idle or fresh. */
  readonly #busy = new Map<Socket, number>();
  /**
   * Sockets that carried a request. One that did not is fresh: accepted just before the drain,
   * its request may be on its way, and closing it would fail that request unanswered (seen under
   * socket activation: one in 768 new connections during `systemctl restart`).
   */
  readonly #served = new WeakSet<Socket>();
  #onIdle: (() => void) | null = null;
  /** A restart's drain: connections close by themselves (see ShutdownOptions.polite). */
  #polite = false;
  /** Until when a stop waits for fresh connections' requests. */
  #freshUntil = 0;
  /** From the start of a drain: what it let finish, and what its deadline cut (the restart's report). */
  #finished = 0;
  #streamsFinished = 0;
  #cut = 0;

  constructor(private readonly server: Server) {
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => {
        this.#sockets.delete(socket);
        if (this.#draining && this.#inFlight === 0 && this.#settled()) this.#onIdle?.();
      });
    });
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get streams(): number {
    return this.#streams;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Registers a request; the returned signal aborts when the stop is forced. The caller calls
   * end() when the response closes (its own 'close' listener: one per request, not two).
   */
  begin(res: ServerResponse): ShutdownSignal {
    this.#inFlight++;
    const abort = new ShutdownSignal();
    this.#aborts.set(abort, res);
    // The request's socket: a pipelined request's response gets it only once the one before is done.
    const socket = res.req.socket;
    this.#busy.set(socket, (this.#busy.get(socket) ?? 0) + 1);
    this.#served.add(socket);
    if (this.#draining) res.shouldKeepAlive = false;
    return abort;
  }

  end(req: IncomingMessage, abort: ShutdownSignal): void {
    this.#inFlight--;
    this.#aborts.delete(abort);
    const left = (this.#busy.get(req.socket) ?? 1) - 1;
    if (left > 0) this.#busy.set(req.socket, left);
    else this.#busy.delete(req.socket);
    if (this.#draining) {
      if (!abort.aborted) this.#finished++;
      if (!this.#polite) {
        // The connection this request used is idle now: close it rather than keep it alive.
        req.socket.destroySoon?.();
        this.#closeIdle();
      }
      if (this.#inFlight === 0 && this.#settled()) this.#onIdle?.();
    }
  }

  streamStarted(): void {
    this.#streams++;
  }

  streamEnded(): void {
    this.#streams--;
    if (this.#draining) this.#streamsFinished++;
  }

  /** What the drain did: requests and streams it let finish, requests its deadline cut. */
  get report(): { finished: number; streams: number; cut: number } {
    return { finished: this.#finished, streams: this.#streamsFinished, cut: this.#cut };
  }

  /**
   * Stop accepting and wait for in-flight requests; resolves `forced: true` if the deadline cut
   * some. `polite` (a restart) also waits for the connections to close by themselves: every answer
   * from now on says `Connection: close`, and idle ones end at their keep-alive timeout.
   */
  drain(timeoutMs: number, polite = false): Promise<{ forced: boolean }> {
    this.#draining = true;
    this.#polite = polite;
    for (const res of this.#aborts.values()) if (!res.headersSent) res.shouldKeepAlive = false;
    if (polite) {
      // http.Server#close also closes every idle connection (Node >= 19); net.Server's only stops accepting.
      NetServer.prototype.close.call(this.server);
      // Node arms an idle connection's keep-alive timer as each response ends, with
      // socket.setTimeout(keepAliveTimeout + 1 s); the longer one applies to the connections idle
      // later, and is set here on those idle now.
      this.server.keepAliveTimeout += POLITE_IDLE_GRACE_MS;
      for (const socket of this.#sockets) if (!this.#busy.has(socket)) socket.setTimeout(this.server.keepAliveTimeout + 1_000);
    } else {
      NetServer.prototype.close.call(this.server);
      this.#closeIdle();
      this.#freshUntil = Date.now() + FRESH_GRACE_MS;
    }
    const idle = (): boolean => this.#inFlight === 0 && this.#settled();
    return new Promise((resolve) => {
      const done = (deadlinePassed: boolean): void => {
        clearTimeout(timer);
        this.#onIdle = null;
        const finish = (): void => {
          for (const socket of this.#sockets) socket.destroy();
          // A force() before the deadline (second SIGINT) empties the gateway too: still a forced stop.
          resolve({ forced: deadlinePassed || this.#forced });
        };
        if (!deadlinePassed) return finish();
        this.force();
        setTimeout(finish, FORCE_FLUSH_MS);
      };
      const timer = setTimeout(() => done(this.#inFlight > 0), timeoutMs);
      this.#onIdle = () => done(false);
      if (!polite) {
        const fresh = setTimeout(() => idle() && this.#onIdle?.(), Math.min(FRESH_GRACE_MS, timeoutMs));
        fresh.unref();
      }
      if (idle()) done(false);
    });
  }

  /**
   * Whether the connections left let the drain end: in a polite one, none is left; in a stop, no
   * fresh one (its request is awaited, within the deadline and the server's header-timeout).
   */
  #settled(): boolean {
    if (this.#polite) return this.#sockets.size === 0;
    if (Date.now() >= this.#freshUntil) return true;
    for (const socket of this.#sockets) if (!this.#served.has(socket)) return false;
    return true;
  }

  /** Closes the keep-alive connections that sit between requests; fresh ones are left to send theirs. */
  #closeIdle(): void {
    for (const socket of this.#sockets) if (!this.#busy.has(socket) && this.#served.has(socket)) socket.destroy();
  }

  /** Abort every request now; streams end with an error event, then their sockets are destroyed. */
  force(): void {
    this.#draining = true;
    if (this.#inFlight > 0) this.#forced = true;
    for (const abort of this.#aborts.keys()) {
      if (!abort.aborted) this.#cut++;
      abort.abort();
    }
    setTimeout(() => {
      this.server.closeAllConnections();
      for (const socket of this.#sockets) socket.destroy();
    }, FORCE_FLUSH_MS);
  }
}
