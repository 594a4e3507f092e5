/** What the launcher tells the server it forks: passed as the server's only argument, as JSON. */
import type { Overrides } from './config/load.ts';

export interface ServerLaunch {
  /** Absolute config path, or null for the default search (which may end in the embedded default). */
  configPath: string | null;
  overrides: Overrides;
  /** Log lines go to the systemd journal: prefix them with their priority. */
  journal?: boolean;
}

export function encodeLaunch(launch: ServerLaunch): string {
  return JSON.stringify(launch);
}

export function decodeLaunch(text: string | undefined): ServerLaunch {
  if (text === undefined) return { configPath: null, overrides: {} };
  return JSON.parse(text) as ServerLaunch;
}
