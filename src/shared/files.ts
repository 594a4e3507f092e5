/**
 * The files ai-proxy opens itself (its config, PID file and log), checked before they are
 * opened, so that an odd path fails at once with the path and the OS's reason instead of
 * hanging or spinning (DESIGN §6, §7):
 * - a FIFO blocks open(2) until its other end appears: never opened without O_NONBLOCK;
 * - Node's recursive mkdir loops forever on procfs (mkdir says ENOENT for a child of /proc, and
 *   EEXIST for /proc itself, and it retries): directories are made here, one level at a time;
 * - kernel pseudo-filesystems (/proc, /sys, …) hold kernel state, not files: writing a PID there
 *   as root can change a kernel setting, so paths on them are refused by name;
 * - a directory, a socket, a device, a dangling symbolic link: named as what they are.
 * (devpts is not refused: a terminal is a fine place for a log, as /dev/stdout.)
 * Everything here is synchronous and bounded by the number of components of the path.
 */
import { constants, closeSync, fstatSync, lstatSync, mkdirSync, openSync, readSync, statfsSync, statSync, accessSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** statfs(2) f_type of the kernel's pseudo-filesystems (linux/magic.h). */
const pseudoFilesystems: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x62656570, 'configfs'],
  [0xcafe4a11, 'bpf'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0x65735543, 'fusectl'],
  [0x42494e4d, 'binfmt_misc'],
]);

/** Thrown with a sentence that already names the path; callers wrap it in their own AppError. */
export class FileProblem extends Error {
  override readonly name = 'FileProblem';
  constructor(
    message: string,
    readonly errno?: string,
  ) {
    super(message);
  }
}

export function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

const reasons: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a component of the path is not a directory',
  EISDIR: 'it is a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ELOOP: 'too many levels of symbolic links',
  ENXIO: 'no such device or address',
  ENAMETOOLONG: 'file name too long',
  EEXIST: 'file exists',
  EBUSY: 'device or resource busy',
  EINVAL: 'invalid argument',
};

/** "read-only file system (EROFS)": the OS's reason, without Node's "EROFS: …, open '/x'" noise. */
export function osReason(error: unknown): string {
  if (error instanceof FileProblem) return error.message;
  const code = errnoCode(error);
  if (code !== undefined && reasons[code] !== undefined) return `${reasons[code]} (${code})`;
  const message = error instanceof Error ? error.message : String(error);
  // fs-ext words it "EAGAIN, Resource temporarily unavailable".
  const match = /^[A-Z0-9_]+[:,] ([^,]+)/.exec(message);
  return match?.[1] !== undefined ? `${match[1]}${code === undefined ? '' : ` (${code})`}` : message;
}

/** The nearest existing ancestor of `path` (itself if it exists); bounded by the path's depth. */
function nearestExisting(path: string): string {
  let current = resolve(path);
  for (;;) {
    try {
      lstatSync(current);
      return current;
    } catch {
      const parent = dirname(current);
      if (parent === current) return current;
      current = parent;
    }
  }
}

/** The pseudo-filesystem `path` (or, when it does not exist, its nearest existing ancestor) lives on, or null. */
export function pseudoFilesystemOf(path: string): string | null {
  try {
    return pseudoFilesystems.get(statfsSync(nearestExisting(path)).type) ?? null;
  } catch {
    return null;
  }
}

function refusePseudo(path: string, what: string): void {
  const fs = pseudoFilesystemOf(path);
  if (fs !== null) throw new FileProblem(`${what} ${path} is on ${fs}, a kernel pseudo-filesystem, not a place for files; choose a path on a real file system`);
}

export function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return stats.isFile() ? 'a regular file' : 'not a regular file';
}

/**
 * `mkdir -p`, one level at a time: each missing component is created on its own, so a failure
 * names that component and the loop ends when the path runs out of components.
 */
export function makeDirectories(dir: string, what: string, mode = 0o755): void {
  const missing: string[] = [];
  const full = resolve(dir);
  let current = full;
  for (;;) {
    let stats: Stats | null = null;
    try {
      stats = statSync(current);
    } catch (error) {
      // ENOTDIR: a component further up is a file; walking up finds and names it.
      const code = errnoCode(error);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new FileProblem(`cannot create ${what} directory ${full}: ${osReason(error)}`, code);
    }
    if (stats !== null) {
      if (!stats.isDirectory()) throw new FileProblem(`cannot create ${what} directory ${full}: ${current} is ${kindOf(stats)}, not a directory`, 'ENOTDIR');
      break;
    }
    missing.unshift(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const component of missing) {
    try {
      mkdirSync(component, { mode });
    } catch (error) {
      // Created meanwhile by someone else: fine if it is a directory.
      if (errnoCode(error) === 'EEXIST' && statSync(component, { throwIfNoEntry: false })?.isDirectory() === true) continue;
      throw new FileProblem(`cannot create ${what} directory ${component}: ${osReason(error)}`, errnoCode(error));
    }
  }
}

export interface TargetOptions {
  /** How the file is named in messages: "PID file", "log file". */
  what: string;
  /** Follow a symbolic link at the path (a log file may be one; a PID file may not). */
  followSymlink: boolean;
  /** Accept a character device (/dev/null, a terminal): for a log that is never rotated. */
  allowCharDevice?: boolean;
}

function acceptable(stats: Stats, options: TargetOptions): boolean {
  return stats.isFile() || (options.allowCharDevice === true && stats.isCharacterDevice());
}

/**
 * Checks a path ai-proxy is about to create or append to, creating its directory: a regular file
 * or nothing, on a real file system. Throws FileProblem naming the path and the reason.
 */
export function prepareFileTarget(path: string, options: TargetOptions): void {
  refusePseudo(path, options.what);
  let stats: Stats | undefined;
  try {
    stats = lstatSync(path);
  } catch (error) {
    const code = errnoCode(error);
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new FileProblem(`cannot use ${options.what} ${path}: ${osReason(error)}`, code);
  }
  if (stats?.isSymbolicLink() === true) {
    if (!options.followSymlink) throw new FileProblem(`${options.what} ${path} is a symbolic link; refusing to follow it`, 'ELOOP');
    const target = statSync(path, { throwIfNoEntry: false });
    if (target === undefined) throw new FileProblem(`${options.what} ${path} is a symbolic link to a file that does not exist (dangling)`, 'ENOENT');
    stats = target;
  }
  if (stats !== undefined && !acceptable(stats, options)) throw new FileProblem(`${options.what} ${path} is ${kindOf(stats)}, not a regular file`, stats.isDirectory() ? 'EISDIR' : 'EINVAL');
  if (stats !== undefined) return;
  makeDirectories(dirname(path), options.what);
}

/**
 * Whether the path could be created or appended to, without creating anything (for `validate`):
 * null when it looks usable, else the reason.
 */
export function checkFileTarget(path: string, options: TargetOptions): string | null {
  try {
    refusePseudo(path, options.what);
    const stats = lstatSync(path, { throwIfNoEntry: false });
    if (stats !== undefined) {
      let target: Stats | undefined = stats;
      if (stats.isSymbolicLink()) {
        if (!options.followSymlink) return `${options.what} ${path} is a symbolic link; refusing to follow it`;
        target = statSync(path, { throwIfNoEntry: false });
        if (target === undefined) return `${options.what} ${path} is a symbolic link to a file that does not exist (dangling)`;
      }
      if (!acceptable(target, options)) return `${options.what} ${path} is ${kindOf(target)}, not a regular file`;
      accessSync(path, constants.W_OK);
      return null;
    }
    const existing = nearestExisting(dirname(path));
    const ancestor = statSync(existing);
    if (!ancestor.isDirectory()) return `${options.what} ${path}: ${existing} is ${kindOf(ancestor)}, not a directory`;
    // access(2) reports a read-only mount as EROFS, also to root.
    accessSync(existing, constants.W_OK);
    return null;
  } catch (error) {
    return `cannot use ${options.what} ${path}: ${osReason(error)}`;
  }
}

/** The longest config file read; anything larger is not a config (a device, a log file named by mistake). */
const MAX_READ_BYTES = 16 * 1024 * 1024;

/**
 * Reads a whole regular file, refusing FIFOs (without blocking on them), devices, directories and
 * pseudo-filesystem files by name. Throws FileProblem, or the fs error for ENOENT so that callers
 * can say "not found" in their own words.
 */
export function readRegularFile(path: string, what: string): Buffer {
  refusePseudo(path, what);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' && lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() === true) {
      throw new FileProblem(`${what} ${path} is a symbolic link to a file that does not exist (dangling)`, 'ENOENT');
    }
    throw error;
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new FileProblem(`${what} ${path} is ${kindOf(stats)}, not a regular file`, stats.isDirectory() ? 'EISDIR' : 'EINVAL');
    if (stats.size > MAX_READ_BYTES) throw new FileProblem(`${what} ${path} is ${stats.size} bytes; more than ${MAX_READ_BYTES} bytes is not a config`, 'EFBIG');
    const buffer = Buffer.alloc(stats.size);
    let filled = 0;
    // A file that shrinks while read ends early; one that grows is read up to its size at open.
    while (filled < buffer.length) {
      const n = readSync(fd, buffer, filled, buffer.length - filled, filled);
      if (n === 0) break;
      filled += n;
    }
    return filled === buffer.length ? buffer : buffer.subarray(0, filled);
  } finally {
    closeSync(fd);
  }
}
