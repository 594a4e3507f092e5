/**
 * The user and group a server child runs as (`user`/`group` in the config), like nginx's workers:
 * a launcher started as root binds the port and reads the config and its secrets, then forks the
 * gateway unprivileged. Names are looked up in /etc/passwd and /etc/group (the files every Debian
 * system has; NSS sources such as LDAP need a numeric id), and every problem is a start error
 * naming the setting, never a child that fails later.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { AppError } from '../shared/errors.ts';

export interface RunAs {
  uid: number;
  gid: number;
  /** For log lines: `nobody:nogroup (65534:65534)`. */
  label: string;
}

interface Entry {
  name: string;
  id: number;
  /** passwd only: the primary group. */
  gid?: number;
}

function readTable(path: string, idField: number): Entry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const entries: Entry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length <= idField) continue;
    const entry: Entry = { name: fields[0] as string, id: Number(fields[idField]) };
    if (idField === 2 && fields[3] !== undefined) entry.gid = Number(fields[3]);
    entries.push(entry);
  }
  return entries;
}

function lookup(table: Entry[], wanted: string): Entry | undefined {
  return /^\d+$/.test(wanted) ? (table.find((e) => e.id === Number(wanted)) ?? { name: wanted, id: Number(wanted) }) : table.find((e) => e.name === wanted);
}

/** Null when neither is set. Throws AppError when the drop cannot happen. */
export function resolveRunAs(user: string | undefined, group: string | undefined, files = { passwd: '/etc/passwd', group: '/etc/group' }, euid = process.geteuid?.() ?? -1): RunAs | null {
  if (user === undefined && group === undefined) return null;
  if (euid !== 0) {
    const setting = user !== undefined ? `user: ${user}` : `group: ${group}`;
    throw new AppError(
      'E_CONFIG_INVALID',
      `${setting} needs the launcher to run as root (it runs as uid ${euid}) to start the server as another user; under the shipped systemd unit (DynamicUser) leave user and group unset`,
    );
  }
  const passwd = readTable(files.passwd, 2);
  const groups = readTable(files.group, 2);
  let uid = 0;
  let gid: number | undefined;
  let userName = 'root';
  if (user !== undefined) {
    const found = lookup(passwd, user);
    if (found === undefined) throw new AppError('E_CONFIG_INVALID', `user: no user "${user}" in ${files.passwd} (give a numeric uid for users from other sources)`);
    uid = found.id;
    gid = found.gid;
    userName = found.name;
  }
  if (group !== undefined) {
    const found = lookup(groups, group);
    if (found === undefined) throw new AppError('E_CONFIG_INVALID', `group: no group "${group}" in ${files.group} (give a numeric gid for groups from other sources)`);
    gid = found.id;
  }
  if (gid === undefined || Number.isNaN(gid)) throw new AppError('E_CONFIG_INVALID', `user: ${user}: no primary group in ${files.passwd}; set group as well`);
  const groupName = groups.find((g) => g.id === gid)?.name ?? String(gid);
  return { uid, gid, label: `${userName}:${groupName} (${uid}:${gid})` };
}

/**
 * Why `runAs` cannot execute (or read) `file` (each directory above it must be searchable by it),
 * or null when it can. Checked at start so that a drop to a user who cannot run
 * this Node (installed under /root, say) is a clear start error, not a child that never starts.
 */
export function cannotUse(file: string, runAs: RunAs, need: 'execute' | 'read'): string | null {
  const fileBit = need === 'execute' ? 1 : 4;
  const allowed = (path: string, bit: number): boolean => {
    const st = statSync(path);
    if (runAs.uid === 0) return true;
    if (st.uid === runAs.uid) return (st.mode & (bit << 6)) !== 0;
    if (st.gid === runAs.gid) return (st.mode & (bit << 3)) !== 0;
    return (st.mode & bit) !== 0;
  };
  try {
    const dirs: string[] = [];
    for (let dir = dirname(file); ; dir = dirname(dir)) {
      dirs.unshift(dir);
      if (dir === dirname(dir)) break;
    }
    for (const dir of dirs) if (!allowed(dir, 1)) return `${dir} is not searchable by ${runAs.label} (mode ${(statSync(dir).mode & 0o777).toString(8).padStart(4, '0')})`;
    if (!allowed(file, fileBit)) return `${file} is not ${need === 'execute' ? 'executable' : 'readable'} by ${runAs.label}`;
  } catch (error) {
    return (error as Error).message;
  }
  return null;
}

/** `resolveRunAs`, then whether that user can run this Node and read the server's code: a start error if not. */
export function resolveRunAsFor(user: string | undefined, group: string | undefined, serverEntry: string): RunAs | null {
  const runAs = resolveRunAs(user, group);
  if (runAs === null) return null;
  const problem = cannotUse(process.execPath, runAs, 'execute') ?? cannotUse(serverEntry, runAs, 'read');
  if (problem !== null) {
    throw new AppError('E_CONFIG_INVALID', `user: the server cannot run as ${runAs.label}: ${problem}; install Node and ai-proxy where that user can reach them (e.g. /usr/bin/node, /usr/local/lib/node_modules)`);
  }
  return runAs;
}
