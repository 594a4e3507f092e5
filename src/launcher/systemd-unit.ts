/**
 * The shipped systemd unit with the paths of one installation: the unit names node and the
 * launcher's script by absolute path (systemd's PATH is not the user's), so the shipped file
 * carries the paths of the usual layout and this rewrites them for the one that runs it.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { packageFile } from '../shared/package-files.ts';

/** The paths the shipped unit names: Debian's nodejs with npm's default global prefix. */
export const SHIPPED_NODE = '/usr/bin/node';
export const SHIPPED_SCRIPT = '/usr/local/lib/node_modules/ai-proxy/bin/ai-proxy.js';

/** Directories the shipped unit's ProtectHome=yes hides from the service. */
const HIDDEN = ['/home/', '/root/', '/run/user/'];

export interface GeneratedUnit {
  text: string;
  /** Problems the unit will have as it stands, for stderr. */
  warnings: string[];
}

/** systemd splits command lines on whitespace; a path with a space must be quoted. */
function quoted(path: string): string {
  return /[\s"\\]/.test(path) ? `"${path.replace(/(["\\])/g, '\\$1')}"` : path;
}

export function shippedUnit(): string {
  return readFileSync(packageFile('etc', 'systemd', 'ai-proxy.service'), 'utf8');
}

export function unitFor(node: string, script: string, shipped = shippedUnit()): GeneratedUnit {
  const text = shipped.split(`${SHIPPED_NODE} ${SHIPPED_SCRIPT}`).join(`${quoted(node)} ${quoted(script)}`);
  const warnings = [node, script]
    .filter((path) => HIDDEN.some((dir) => path.startsWith(dir)))
    .map((path) => `${path} is under a directory the unit's ProtectHome=yes hides from the service; install it system-wide (e.g. /usr/local), or add ProtectHome=read-only in a drop-in`);
  return { text, warnings };
}

/** The unit for the node running now and the package it runs from. */
export function unitForThisInstallation(): GeneratedUnit {
  return unitFor(process.execPath, realpathSync(packageFile('bin', 'ai-proxy.js')));
}
