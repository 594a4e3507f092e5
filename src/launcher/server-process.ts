/**
 * The server child, seen from the launcher: forked in its own process group (so a terminal's
 * Ctrl-C reaches only the launcher, which orders the shutdown), with its stdout/stderr piped to
 * the log sink and a typed IPC channel.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LauncherMessage, ServerMessage } from '../shared/ipc.ts';
import { encodeLaunch, type ServerLaunch } from '../shared/launch.ts';

/** The server's code, beside the launcher's bundle. */
export const SERVER_ENTRY = fileURLToPath(new URL('./server.js', import.meta.url));

export interface ServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  error?: string;
}

export class ServerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<ServerExit>;
  #exit: ServerExit | null = null;

  /**
   * `listenFd`: the launcher's listening socket, which the child gets as its CHILD_LISTEN_FD.
   * `credentials`: the user the child runs as (the config's user/group), when the launcher drops them.
   */
  constructor(launch: ServerLaunch, listenFd: number, env: NodeJS.ProcessEnv, onMessage: (message: ServerMessage) => void, credentials: { uid: number; gid: number } | null = null) {
    // Resolved at each fork, from the files on disk: a restart after an upgrade runs the new server.
    this.child = fork(SERVER_ENTRY, [encodeLaunch(launch)], {
      detached: true,
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc', listenFd],
      // Structured clone, not JSON: the config the launcher sends keeps `undefined` and non-finite numbers as they are.
      serialization: 'advanced',
      ...(credentials === null ? {} : { uid: credentials.uid, gid: credentials.gid }),
    });
    this.child.on('message', (message) => onMessage(message as ServerMessage));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.#exit ??= { code, signal };
        resolve(this.#exit);
      });
      // A send racing the child's death fails with EPIPE/ERR_IPC_CHANNEL_CLOSED; the exit handler
      // reports it. A child that never started (exec failed: EACCES for another user, ENOENT)
      // has no pid and may never emit 'exit': that error is its end.
      this.child.on('error', (error: NodeJS.ErrnoException) => {
        if (this.child.pid !== undefined || this.#exit !== null) return;
        this.#exit = { code: null, signal: null, error: `${error.code ?? error.message} (${process.execPath})` };
        resolve(this.#exit);
      });
    });
  }

  get pid(): number | null {
    return this.child.pid ?? null;
  }

  get running(): boolean {
    return this.#exit === null;
  }

  send(message: LauncherMessage): void {
    if (this.running && this.child.connected) this.child.send(message, () => undefined);
  }

  /** SIGKILL the server's whole process group: nothing it started may outlive it. */
  kill(): void {
    if (!this.running || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      this.child.kill('SIGKILL');
    }
  }
}

export function describeExit(exit: ServerExit): string {
  if (exit.error !== undefined) return `it could not be started: ${exit.error}`;
  return exit.signal !== null ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}
