import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, openSync, readFileSync, readSync, unlinkSync, writeSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { AppError } from '../shared/errors.ts';
import { errnoCode, osReason, prepareFileTarget } from '../shared/files.ts';

/** The lock on the PID file. The lock lives exactly as long as the fd, so the fd stays open for the process's life. */
export interface PidFileLock {
  readonly path: string;
  /** Unlinks the file (only if the path is still our inode), then closes the fd. Idempotent and sync: safe in exit handlers. */
  release(): void;
}

export type PidFileContent = { pid: number } | { pid: null; reason: 'missing' | 'empty' | 'invalid' };

type FsExt = { flockSync(fd: number, flags: 'exnb' | 'un'): void };
let fsExt: FsExt | undefined;
// fs-ext is a native CommonJS addon: createRequire keeps it out of the esbuild bundle, and loading
// it on first use keeps commands that never lock (status, stop) from paying for it.
function flockExclusive(fd: number): void {
  fsExt ??= createRequire(import.meta.url)('fs-ext') as FsExt;
  fsExt.flockSync(fd, 'exnb');
}

// An unlink by the holder can slip between our open() and flock(); each such loss costs one retry,
// so a handful is plenty unless something keeps replacing the file, which we report rather than spin on.
const MAX_ATTEMPTS = 20;
// The holder truncates and then writes its pid right after locking; a loser that reads in between
// sees an empty file. Waiting this long at most for the pid keeps the "already running" message useful.
const PID_READ_WAIT_MS = 200;
const MAX_PID_FILE_BYTES = 64;

/**
 * Takes the PID file lock (flock LOCK_EX|LOCK_NB) and writes `pid` into the file.
 * Throws AppError 'E_PID_LOCKED' ("already running (pid N)") when another process holds it, and
 * 'E_PID_FILE' when the path cannot be used (symlink, not a regular file, directory not creatable).
 * A leftover file that nobody holds locked is stale and is taken over.
 */
export function acquirePidFile(path: string, pid: number = process.pid): PidFileLock {
  ensureParentDirectory(path);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    // Not O_TRUNC: truncating before holding the lock would wipe a running holder's pid.
    const fd = openPidFile(path);
    let keep = false;
    try {
      const opened = fstatSync(fd);
      if (!opened.isFile()) throw new AppError('E_PID_FILE', `PID file ${path} is not a regular file; remove it or choose another path.`);
      if (!tryLock(fd, path)) {
        // The holder may have released and unlinked since our open(): the lock may be free now.
        if (!sameInode(opened, path)) continue;
        const holder = readHolderPid(fd);
        throw new AppError('E_PID_LOCKED', `already running (pid ${holder ?? 'unknown'}); PID file ${path} is locked. Stop that instance first or use another --pid-file.`);
      }
      // Locked, but possibly an inode the previous holder unlinked after our open(): that lock
      // protects nothing, and whoever creates the new file would "win" too.
      if (!sameInode(opened, path)) continue;
      ftruncateSync(fd, 0);
      writeSync(fd, `${pid}\n`, 0);
      keep = true;
      return new HeldPidFile(path, fd, opened);
    } catch (error) {
      throw error instanceof AppError ? error : new AppError('E_PID_FILE', `cannot use PID file ${path}: ${osReason(error)}`, { cause: error });
    } finally {
      if (!keep) closeQuietly(fd);
    }
  }
  throw new AppError('E_PID_FILE', `PID file ${path} was replaced ${MAX_ATTEMPTS} times while locking it; is another program removing it?`);
}

/** Reads the pid in the file without locking it, so `status` and `stop` can never make a concurrent `run` fail. */
export function readPidFile(path: string): PidFileContent {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted at the path must not hang `status`.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return { pid: null, reason: 'missing' };
    if (code === 'ELOOP') return { pid: null, reason: 'invalid' };
    throw new AppError('E_PID_FILE', `cannot read PID file ${path}: ${osReason(error)}`, { cause: error });
  }
  try {
    if (!fstatSync(fd).isFile()) return { pid: null, reason: 'invalid' };
    return parsePid(readHead(fd));
  } catch (error) {
    throw new AppError('E_PID_FILE', `cannot read PID file ${path}: ${osReason(error)}`, { cause: error });
  } finally {
    closeQuietly(fd);
  }
}

/** kill(pid, 0): a process we may not signal (EPERM) still exists. */
export function isProcessAlive(pid: number): boolean {
  // 0 and negative pids address process groups, not a process.
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
  return !isZombie(pid);
}

/**
 * A daemon's parent is init, which may reap it late (seen here: over a second); until then
 * kill(pid, 0) succeeds on the corpse. A zombie runs nothing and holds no lock: it is gone.
 */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) === 'Z';
  } catch {
    return false;
  }
}

class HeldPidFile implements PidFileLock {
  readonly path: string;
  #fd: number | null;
  readonly #stats: Stats;

  constructor(path: string, fd: number, stats: Stats) {
    this.path = path;
    this.#fd = fd;
    this.#stats = stats;
  }

  release(): void {
    const fd = this.#fd;
    if (fd === null) return;
    this.#fd = null;
    // Unlink while still holding the lock, and only our own inode: the path may already belong to a
    // successor if someone removed our file by hand.
    try {
      if (sameInode(this.#stats, this.path)) unlinkSync(this.path);
    } catch {
      // Best effort: a leftover file is stale and the next run takes it over.
    }
    closeQuietly(fd);
  }
}

function ensureParentDirectory(path: string): void {
  try {
    prepareFileTarget(path, { what: 'PID file', followSymlink: false });
  } catch (error) {
    throw new AppError('E_PID_FILE', osReason(error), { cause: error });
  }
}

function openPidFile(path: string): number {
  try {
    // O_NONBLOCK: a FIFO put at the path between the check and the open must not block the start.
    return openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ELOOP') throw new AppError('E_PID_FILE', `PID file path is a symlink; refusing to follow it: ${path}`, { cause: error });
    if (code === 'EISDIR') throw new AppError('E_PID_FILE', `PID file ${path} is a directory; remove it or choose another path.`, { cause: error });
    throw new AppError('E_PID_FILE', `cannot open PID file ${path}: ${osReason(error)}`, { cause: error });
  }
}

function tryLock(fd: number, path: string): boolean {
  try {
    flockExclusive(fd);
    return true;
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return false;
    throw new AppError('E_PID_FILE', `cannot lock PID file ${path}: ${osReason(error)}`, { cause: error });
  }
}

function readHolderPid(fd: number): number | null {
  const deadline = Date.now() + PID_READ_WAIT_MS;
  for (;;) {
    const content = parsePid(readHead(fd));
    if (content.pid !== null || content.reason !== 'empty' || Date.now() >= deadline) return content.pid;
    pauseSync(2);
  }
}

function readHead(fd: number): string {
  const buffer = Buffer.alloc(MAX_PID_FILE_BYTES + 1);
  const length = readSync(fd, buffer, 0, buffer.length, 0);
  return buffer.toString('utf8', 0, length);
}

function parsePid(text: string): PidFileContent {
  if (text.trim() === '') return { pid: null, reason: 'empty' };
  if (text.length > MAX_PID_FILE_BYTES || !/^\s*\d+\s*$/.test(text)) return { pid: null, reason: 'invalid' };
  const pid = Number(text.trim());
  return pid > 0 && pid <= 0x7fffffff ? { pid } : { pid: null, reason: 'invalid' };
}

function sameInode(opened: Stats, path: string): boolean {
  let current: Stats;
  try {
    current = lstatSync(path);
  } catch {
    return false;
  }
  return current.ino === opened.ino && current.dev === opened.dev;
}

// acquirePidFile is sync (it runs before anything else and in exit paths); Atomics.wait is the
// only way to pause a sync function without burning the CPU.
const pauseCell = new Int32Array(new SharedArrayBuffer(4));
function pauseSync(ms: number): void {
  Atomics.wait(pauseCell, 0, 0, ms);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed or never valid: nothing left to release.
  }
}
