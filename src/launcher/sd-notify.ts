import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';

/**
 * The launcher's side of the systemd notify protocol (sd_notify(3)). The launcher is the main PID,
 * so it sends the datagrams itself: under NotifyAccess=main systemd drops anything sent by another
 * process, which rules out helpers such as the `systemd-notify` binary or npm package.
 */
export interface SdNotifier {
  /** False when NOTIFY_SOCKET is unset (or unusable): every method is then a no-op and nothing is opened or sent. */
  readonly enabled: boolean;
  /** READY=1 with MAINPID and STATUS. */
  ready(status: string): void;
  /** RELOADING=1 with MONOTONIC_USEC, which systemd (Type=notify-reload) requires to match the reload to its request. */
  reloading(): void;
  /** READY=1 with the reload verdict as STATUS. */
  reloaded(status: string): void;
  stopping(status?: string): void;
  /** Asks systemd to extend the current start/stop timeout by usec from now (EXTEND_TIMEOUT_USEC). */
  extendTimeout(usec: number): void;
  status(text: string): void;
  watchdog(): void;
  /** WATCHDOG_USEC when the watchdog is meant for this process (WATCHDOG_PID unset or ours), else null. */
  readonly watchdogUsec: number | null;
  /** Stops sending; later calls are no-ops. */
  close(): void;
}

export interface SdNotifierOptions {
  /** Told about the first failure only (later ones are dropped); defaults to process.emitWarning. */
  onError?: (error: Error) => void;
}

const NOTIFY_ENV_KEYS = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'] as const;
// sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH_BYTES = 107;
// systemd reads at most a pipe buffer (4096 bytes) per datagram; a status line never needs more.
const MAX_STATUS_CHARS = 1024;

export function createSdNotifier(env: NodeJS.ProcessEnv = process.env, options: SdNotifierOptions = {}): SdNotifier {
  const socketPath = env.NOTIFY_SOCKET;
  if (socketPath === undefined || socketPath === '') return disabledNotifier;
  const report = options.onError ?? ((error: Error) => process.emitWarning(error.message, { code: 'AI_PROXY_SD_NOTIFY' }));
  const problem = unsupportedAddress(socketPath);
  if (problem !== null) {
    // Degrade rather than fail: the service still runs, systemd just never hears READY=1 and
    // times the start out, which the warning explains.
    report(new Error(`sd_notify disabled: NOTIFY_SOCKET=${socketPath} ${problem}`));
    return disabledNotifier;
  }
  return new DatagramNotifier(socketPath, watchdogUsecFrom(env), report);
}

/** A copy of env without the notify variables, for the child server: only the main PID may notify. */
export function stripNotifyEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const key of NOTIFY_ENV_KEYS) delete copy[key];
  return copy;
}

const noop = (): void => {};
const disabledNotifier: SdNotifier = Object.freeze({
  enabled: false,
  watchdogUsec: null,
  ready: noop,
  reloading: noop,
  reloaded: noop,
  stopping: noop,
  extendTimeout: noop,
  status: noop,
  watchdog: noop,
  close: noop,
});

function unsupportedAddress(socketPath: string): string | null {
  // unix-dgram copies the address with strncpy() and passes sizeof(sockaddr_un) as its length
  // (src/unix_dgram.cc, SendTo), so an abstract name ('@' → leading NUL) is cut to nothing and
  // padded to 107 bytes: it can never reach the name systemd bound.
  if (socketPath.startsWith('@')) return 'is an abstract socket, which unix-dgram cannot address';
  if (!socketPath.startsWith('/')) return 'is not an absolute socket path (vsock and other address families are not supported)';
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) return `is longer than ${MAX_SOCKET_PATH_BYTES} bytes`;
  return null;
}

function watchdogUsecFrom(env: NodeJS.ProcessEnv): number | null {
  const usec = env.WATCHDOG_USEC;
  const pid = env.WATCHDOG_PID;
  // Same rule as sd_watchdog_enabled(3): a WATCHDOG_PID naming another process means the
  // watchdog is not ours to feed.
  if (pid !== undefined && pid !== '' && pid !== String(process.pid)) return null;
  if (usec === undefined || !/^\d+$/.test(usec)) return null;
  const value = Number(usec);
  return value > 0 && Number.isSafeInteger(value) ? value : null;
}

function oneLine(text: string): string {
  return text.replace(/[\r\n\0]+/g, ' ').trim().slice(0, MAX_STATUS_CHARS);
}

interface UnixDgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback: (error?: Error & { code?: unknown }) => void): void;
  close(): void;
}
interface UnixDgram {
  createSocket(type: 'unix_dgram'): UnixDgramSocket;
}
let unixDgram: UnixDgram | undefined;
// A native CommonJS addon: createRequire keeps it out of the esbuild bundle, and loading it only
// once a notify socket exists keeps every other run from paying for it.
function loadUnixDgram(): UnixDgram {
  unixDgram ??= createRequire(import.meta.url)('unix-dgram') as UnixDgram;
  return unixDgram;
}

class DatagramNotifier implements SdNotifier {
  readonly enabled = true;
  readonly watchdogUsec: number | null;
  readonly #path: string;
  readonly #report: (error: Error) => void;
  #reported = false;
  #closed = false;

  constructor(path: string, watchdogUsec: number | null, report: (error: Error) => void) {
    this.#path = path;
    this.watchdogUsec = watchdogUsec;
    this.#report = report;
  }

  ready(status: string): void {
    this.#send(['READY=1', `MAINPID=${process.pid}`, `STATUS=${oneLine(status)}`]);
  }

  reloading(): void {
    // process.hrtime is libuv's uv_hrtime, which reads CLOCK_MONOTONIC on Linux: the clock systemd
    // compares MONOTONIC_USEC against.
    this.#send(['RELOADING=1', `MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`]);
  }

  reloaded(status: string): void {
    this.#send(['READY=1', `STATUS=${oneLine(status)}`]);
  }

  stopping(status?: string): void {
    this.#send(status === undefined ? ['STOPPING=1'] : ['STOPPING=1', `STATUS=${oneLine(status)}`]);
  }

  extendTimeout(usec: number): void {
    if (!Number.isFinite(usec) || usec <= 0) return;
    this.#send([`EXTEND_TIMEOUT_USEC=${Math.ceil(usec)}`]);
  }

  status(text: string): void {
    this.#send([`STATUS=${oneLine(text)}`]);
  }

  watchdog(): void {
    this.#send(['WATCHDOG=1']);
  }

  close(): void {
    this.#closed = true;
  }

  #send(lines: string[]): void {
    if (this.#closed) return;
    const message = Buffer.from(lines.join('\n'));
    let failure: Error | undefined;
    try {
      // A socket per message: a unix-dgram socket is polled by libuv for reads and holds the event
      // loop open until closed, which would keep an exiting launcher alive. Messages are rare
      // (lifecycle events, the watchdog every few seconds), so the extra socket() is free.
      const socket = loadUnixDgram().createSocket('unix_dgram');
      try {
        // The callback runs synchronously, inside send().
        socket.send(message, 0, message.length, this.#path, (error) => {
          failure = error;
        });
      } finally {
        socket.close();
      }
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    }
    if (failure !== undefined) this.#fail(failure);
  }

  #fail(error: Error & { code?: unknown }): void {
    if (this.#reported) return;
    this.#reported = true;
    // unix-dgram reports a bare negative errno ("send -111"); name it.
    const errno = typeof error.code === 'number' && error.code < 0 ? getSystemErrorName(error.code) : undefined;
    const reason = errno ?? error.message;
    try {
      this.#report(new Error(`sd_notify to ${this.#path} failed (${reason}); further failures are not reported`, { cause: error }));
    } catch {
      // A throwing reporter must not turn a lost notification into a crash.
    }
  }
}
