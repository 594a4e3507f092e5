/**
 * Physical memory a group of processes occupies: the distinct resident page frames across all of
 * them, times the page size. Unlike a sum of VmRSS, a file page shared by two processes (the node
 * binary's text, ICU data, shared libraries) counts once. Page frame numbers come from
 * /proc/<pid>/pagemap, which shows them only to root with CAP_SYS_ADMIN; without them (or when a
 * process is gone) the answer is null, never a number that would be wrong.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

/** One pagemap entry per virtual page. */
const ENTRY = 8;
/** Entries read per call: 512 KiB of pagemap, 256 MiB of address space with 4 KiB pages. */
const CHUNK_ENTRIES = 65_536;
/** Bit 63 of an entry, as bit 31 of its high 32-bit half. */
const PRESENT = 0x8000_0000;
/** Bits 32–54 of the PFN (bits 0–54 of the entry), in the high half. */
const PFN_HIGH = 0x7f_ffff;
const TWO_32 = 2 ** 32;

let pageSize: number | undefined;

function getPageSize(): number {
  if (pageSize === undefined) {
    const out = spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout;
    const value = Number(typeof out === 'string' ? out.trim() : '');
    pageSize = Number.isInteger(value) && value > 0 ? value : 4096;
  }
  return pageSize;
}

/**
 * Bytes of distinct physical pages resident across `pids` (union of their page frame numbers), or
 * null when a process's maps or pagemap cannot be read or the kernel hides the PFNs (not root).
 */
export function physicalBytes(pids: readonly number[]): number | null {
  const page = getPageSize();
  const frames = new Set<number>();
  const buffer = Buffer.allocUnsafe(CHUNK_ENTRIES * ENTRY);
  for (const pid of pids) {
    let maps: string;
    let fd: number;
    try {
      maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
      fd = openSync(`/proc/${pid}/pagemap`, 'r');
    } catch {
      return null;
    }
    try {
      for (const line of maps.split('\n')) {
        if (line === '' || line.endsWith('[vsyscall]')) continue;
        const dash = line.indexOf('-');
        const space = line.indexOf(' ', dash);
        const first = parseInt(line.slice(0, dash), 16) / page;
        const end = parseInt(line.slice(dash + 1, space), 16) / page;
        for (let start = first; start < end; start += CHUNK_ENTRIES) {
          const want = Math.min(CHUNK_ENTRIES, end - start) * ENTRY;
          let got = 0;
          while (got < want) {
            const n = readSync(fd, buffer, got, want - got, start * ENTRY + got);
            if (n === 0) break;
            got += n;
          }
          for (let offset = 0; offset + ENTRY <= got; offset += ENTRY) {
            const high = buffer.readUInt32LE(offset + 4);
            if ((high & PRESENT) === 0) continue;
            const pfn = (high & PFN_HIGH) * TWO_32 + buffer.readUInt32LE(offset);
            // A present page always has a frame; 0 means the kernel hid it (no CAP_SYS_ADMIN).
            if (pfn === 0) return null;
            frames.add(pfn);
          }
        }
      }
    } catch {
      return null;
    } finally {
      closeSync(fd);
    }
  }
  return frames.size === 0 ? null : frames.size * page;
}
