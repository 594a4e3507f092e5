import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** One datagram as systemd would see it: the payload plus the kernel-attested sender. */
export interface NotifyMessage {
  /** SCM_CREDENTIALS: the sending process, which systemd checks against MainPID under NotifyAccess=main. */
  pid: number;
  uid: number;
  gid: number;
  /** KEY=VALUE lines of the message; a repeated key keeps its last value. */
  fields: Record<string, string>;
  raw: string;
  /** CLOCK_MONOTONIC (µs) when the receiver read the datagram, to check MONOTONIC_USEC against. */
  receivedMonotonicUsec: number;
}

export interface NotifySocket {
  /** Put this in NOTIFY_SOCKET. */
  path: string;
  /** Every message so far, in arrival order. */
  messages: NotifyMessage[];
  /**
   * The first message, among those already received (from index `from`, default 0) and those still
   * to come, that satisfies pred. Rejects after timeoutMs with the messages seen so far, or as soon
   * as the receiver dies.
   */
  waitFor(pred: (m: NotifyMessage) => boolean, timeoutMs?: number, from?: number): Promise<NotifyMessage>;
  /** Stops the receiver (killing it if it does not exit promptly) and removes the socket. Idempotent. */
  close(): Promise<void>;
}

const RECEIVER_SCRIPT = fileURLToPath(new URL('./notify-receiver.py', import.meta.url));
/** Bounds for events that take milliseconds when idle, sized for a loaded machine (3 × SLACK_MS of cli.ts). */
const DEFAULT_WAIT_MS = 30_000;
const BIND_TIMEOUT_MS = 30_000;
const EXIT_GRACE_MS = 2_000;
// sockaddr_un.sun_path: 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH_BYTES = 107;

interface ReceiverLine {
  bound?: string;
  pid?: number;
  uid?: number;
  gid?: number;
  message?: string;
  monotonic_usec?: number;
}

export function parseNotifyFields(raw: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of raw.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return fields;
}

function describe(messages: readonly NotifyMessage[]): string {
  if (messages.length === 0) return 'none';
  return messages.map((m, i) => `\n  #${i} from pid ${m.pid}: ${JSON.stringify(m.raw)}`).join('');
}

/** Starts a real AF_UNIX datagram receiver in dir that reads SCM_CREDENTIALS; resolves once it is bound. */
export async function openNotifySocket(dir: string): Promise<NotifySocket> {
  const path = join(dir, `notify-${randomBytes(4).toString('hex')}.sock`);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) throw new Error(`notify socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; use a shorter directory`);

  const child = spawn('python3', ['-u', RECEIVER_SCRIPT, path], { stdio: ['pipe', 'pipe', 'pipe'] });
  const messages: NotifyMessage[] = [];
  const listeners = new Set<() => void>();
  let stderr = '';
  let exit: string | null = null;
  let spawnError: Error | null = null;
  let bound = false;

  const wake = (): void => {
    for (const listener of [...listeners]) listener();
  };
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // Closing stdin is how we stop it; a receiver that already died must not turn that into an error.
  child.stdin.on('error', () => {});
  child.on('error', (error) => {
    spawnError = error;
    exit ??= `failed to start: ${error.message}`;
    wake();
  });
  const exited = new Promise<void>((resolve) => {
    child.on('close', (code, signal) => {
      exit ??= `exited with ${signal ?? `code ${code}`}`;
      wake();
      resolve();
    });
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    let parsed: ReceiverLine;
    try {
      parsed = JSON.parse(line) as ReceiverLine;
    } catch {
      stderr += `unparsable receiver line: ${line}\n`;
      return;
    }
    if (parsed.bound !== undefined) {
      bound = true;
    } else {
      const raw = parsed.message ?? '';
      messages.push({ pid: parsed.pid ?? -1, uid: parsed.uid ?? -1, gid: parsed.gid ?? -1, raw, fields: parseNotifyFields(raw), receivedMonotonicUsec: parsed.monotonic_usec ?? -1 });
    }
    wake();
  });

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (exit === null) {
        child.stdin.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      // The receiver unlinks on a clean exit; after a kill the file is left behind.
      rmSync(path, { force: true });
    })();
    return closing;
  };

  /** Resolves when check() returns a value; rejects on timeout or when the receiver is gone. */
  const until = <T>(check: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const settle = (): void => {
        const value = check();
        if (value !== undefined) return finish(() => resolve(value));
        if (exit === null && closing === null) return;
        const why = closing !== null ? 'was closed' : exit;
        finish(() => reject(new Error(`notify receiver ${why} while waiting for ${what()}; stderr: ${stderr.trim() || 'empty'}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`))), timeoutMs);
      const finish = (action: () => void): void => {
        clearTimeout(timer);
        listeners.delete(settle);
        action();
      };
      listeners.add(settle);
      settle();
    });

  try {
    await until(() => (bound ? true : undefined), BIND_TIMEOUT_MS, () => `the receiver to bind ${path}`);
  } catch (error) {
    await close();
    throw spawnError ?? error;
  }

  return {
    path,
    messages,
    waitFor(pred, timeoutMs = DEFAULT_WAIT_MS, from = 0) {
      return until(
        () => messages.slice(from).find(pred),
        timeoutMs,
        () => `a matching notify message on ${path}; received so far: ${describe(messages)}`,
      );
    },
    close,
  };
}
