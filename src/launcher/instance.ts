/**
 * Finding the running instance from the CLI, without ever taking the PID file's lock
 * (DESIGN §4: status and stop must never make a concurrent run fail).
 */
import { readFileSync, statSync } from 'node:fs';
import { controlSocketPath, type PidFileChoice } from '../shared/paths.ts';
import { isProcessAlive, readPidFile, type PidFileContent } from './pid-file.ts';

export type Instance =
  | { state: 'absent'; pidFile: PidFileChoice }
  | { state: 'stale'; pidFile: PidFileChoice; pid: number | null }
  | { state: 'present'; pidFile: PidFileChoice; pid: number; socket: string };

/** Whether some process holds an flock on the file: Linux lists every lock in /proc/locks. */
function isLocked(path: string): boolean | null {
  try {
    const { ino } = statSync(path);
    const locks = readFileSync('/proc/locks', 'utf8');
    return locks.split('\n').some((line) => line.includes('FLOCK') && line.split(/\s+/)[5]?.endsWith(`:${ino}`));
  } catch {
    return null;
  }
}

/** A starting launcher creates the file, then locks it and writes its pid: an empty file may be microseconds from holding one. */
const EMPTY_WAIT_MS = 200;
const pauseCell = new Int32Array(new SharedArrayBuffer(4));

function readSettled(path: string): PidFileContent {
  const deadline = Date.now() + EMPTY_WAIT_MS;
  for (;;) {
    const read = readPidFile(path);
    if (read.pid !== null || read.reason !== 'empty' || Date.now() >= deadline) return read;
    Atomics.wait(pauseCell, 0, 0, 5);
  }
}

/**
 * Stale is the one verdict a handover can fake: the old instance unlinks its file while a new
 * one creates and locks its own, and a read between the two sees an unlocked file. A stale
 * verdict is therefore confirmed once, a moment later.
 */
const RECHECK_MS = 50;

export function findInstance(pidFile: PidFileChoice): Instance {
  const first = inspect(pidFile);
  if (first.state !== 'stale') return first;
  Atomics.wait(pauseCell, 0, 0, RECHECK_MS);
  return inspect(pidFile);
}

function inspect(pidFile: PidFileChoice): Instance {
  const read = readSettled(pidFile.path);
  if (read.pid === null && read.reason === 'missing') return { state: 'absent', pidFile };
  const locked = isLocked(pidFile.path);
  const alive = read.pid !== null && isProcessAlive(read.pid);
  if (read.pid === null || locked === false || (locked === null && !alive)) return { state: 'stale', pidFile, pid: read.pid };
  return { state: 'present', pidFile, pid: read.pid, socket: controlSocketPath(pidFile.path) };
}
