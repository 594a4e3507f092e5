/**
 * What the launcher tells the server it forks: passed as the server's only argument, as JSON. The
 * config is not in it: the launcher loads every config and sends it over IPC (a `start` message),
 * so a server child never reads the config file or its secrets itself (docs/decisions.md, "The
 * launcher reads the config").
 */

/**
 * The descriptor number of the listening socket in a server child: the launcher passes its socket
 * as the child's stdio[4] (after stdin, stdout, stderr and the IPC channel).
 */
export const CHILD_LISTEN_FD = 4;

export interface ServerLaunch {
  /**
   * Which instance this server belongs to, so that `ps` tells (the server reads neither file: the
   * config comes over IPC, and the PID file is the launcher's).
   */
  instance: { config: string | null; pidFile: string };
  /** Log lines go to the systemd journal: prefix them with their priority. */
  journal?: boolean;
  /** The listening socket the launcher owns, at CHILD_LISTEN_FD; `host` is how to name it in URLs. */
  listen: { fd: number; host: string };
}

export function encodeLaunch(launch: ServerLaunch): string {
  return JSON.stringify(launch);
}

export function decodeLaunch(text: string | undefined): ServerLaunch {
  if (text === undefined) throw new Error('the server is started by the launcher (ai-proxy run), with its launch as the only argument');
  return JSON.parse(text) as ServerLaunch;
}
