/** What the launcher tells the server it forks: passed as the server's only argument, as JSON. */
import type { Overrides } from './config/load.ts';

/**
 * The descriptor number of the listening socket in a server child: the launcher passes its socket
 * as the child's stdio[4] (after stdin, stdout, stderr and the IPC channel).
 */
export const CHILD_LISTEN_FD = 4;

export interface ServerLaunch {
  /** Absolute config path, or null for the default search (which may end in the embedded default). */
  configPath: string | null;
  overrides: Overrides;
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
