// Boot a real systemd as PID 1 in a systemd-nspawn container, run commands in it, tear it down.
//
// The host has no systemd as PID 1, so the container is not registered with machined
// (--register=no, --keep-unit) and commands reach it through nsenter instead of machinectl.
// --volatile=overlay puts a tmpfs over the cached tree: every boot starts clean and nothing a
// test writes reaches the cache. --private-network gives the guest its own network namespace
// (loopback only), so its gateway on 127.0.0.1:8317 never collides with one on the host.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Bind {
  host: string;
  guest: string;
}

export interface BootOptions {
  /** Root of the OS tree to boot. */
  tree: string;
  /** Machine (and host) name; unique per boot so concurrent runs do not share state. */
  machine: string;
  /** Read-only bind mounts. */
  binds: Bind[];
  /** Deadline for systemd to reach a settled state (running or degraded). */
  bootTimeoutMs: number;
  log?: (line: string) => void;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Also copy the command's stderr here as it arrives (progress of long commands). */
  tee?: NodeJS.WritableStream;
}

// The environment guest commands see: nothing of the host's (NODE_TEST_CONTEXT, NODE_OPTIONS, …).
const GUEST_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
  TERM: 'dumb',
  SYSTEMD_PAGER: '',
  SYSTEMD_COLORS: '0',
};

/** Runs a command with a deadline; on expiry its whole process group is killed and it throws. */
export function run(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      detached: true,
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      opts.tee?.write(d);
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input);
    }
    const timer = setTimeout(() => {
      killGroup(child, 'SIGKILL');
      reject(new Error(`timed out after ${timeoutMs} ms: ${cmd} ${args.join(' ')}\n${stdout}${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Thrown from a poll callback to stop polling at once (the thing waited for can no longer happen). */
export class PollAbort extends Error {}

/** Calls fn until it returns a value other than undefined/false, or throws after timeoutMs. */
export async function poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined | false>, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      if (err instanceof PollAbort) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) {
        if (c) out.push(Number(c));
      }
    } catch {
      // task exited
    }
  }
  return out;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/**
 * A cgroup of its own for one systemd-nspawn, in each hierarchy systemd tracks processes in (the
 * cgroup2 one, and a v1 name=systemd one when mounted). With --keep-unit, nspawn runs the container
 * in "payload" below its own cgroup; on a host without systemd every process is in "/", so guests
 * booted at the same time (another checkout's test run beside this one) shared /payload, and each
 * guest's systemd saw the other's services in its own units' cgroups. systemd 252 then logs "Failed
 * to kill control group /system.slice/ai-proxy.service, ignoring: Input/output error" for the PIDs
 * it cannot map (which failed the "no complaint" scenario), and a unit's cgroup may not empty when
 * its processes are gone. Returns the directories made (none: the boot goes on as before).
 */
function privateCgroups(name: string): string[] {
  const own = readOr('/proc/self/cgroup', '').split('\n');
  const dirs: string[] = [];
  for (const line of readOr('/proc/self/mountinfo', '').split('\n')) {
    const [mount, fs] = line.split(' - ');
    const mountPoint = mount?.split(' ')[4];
    const [type, , options = ''] = fs?.split(' ') ?? [];
    let current: string | undefined;
    if (type === 'cgroup2') current = own.find((l) => l.startsWith('0::'))?.slice(3);
    else if (type === 'cgroup' && options.split(',').includes('name=systemd')) current = own.find((l) => l.split(':')[1] === 'name=systemd')?.split(':')[2];
    if (mountPoint === undefined || current === undefined) continue;
    const dir = join(mountPoint, current, `nspawn-${name}`);
    try {
      mkdirSync(dir);
      dirs.push(dir);
    } catch {
      // Not ours to make (read-only, delegated elsewhere): nspawn runs where it is.
    }
  }
  return dirs;
}

/** Removes cgroup directories bottom-up once their processes are gone (retried briefly while they exit). */
function removeCgroups(dirs: string[], attempts = 20): void {
  const left = dirs.filter((dir) => {
    const rm = (path: string): boolean => {
      let entries: string[];
      try {
        entries = readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
      } catch {
        return true;
      }
      const children = entries.every((e) => rm(join(path, e)));
      try {
        rmdirSync(path);
        return children;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'ENOENT';
      }
    };
    return !rm(dir);
  });
  if (left.length > 0 && attempts > 1) setTimeout(() => removeCgroups(left, attempts - 1), 100).unref();
}

export class Guest {
  private exited = false;
  private readonly onExit = (): void => this.killNow();
  // Ctrl-C or a runner's SIGTERM would otherwise leave the guest running with nobody to stop it.
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.killNow();
    this.unhook();
    process.kill(process.pid, signal);
  };

  private constructor(
    /** PID of the guest's systemd, as seen from the host. */
    readonly pid1: number,
    private readonly nspawn: ChildProcess,
  ) {
    nspawn.on('exit', () => (this.exited = true));
    // Last resort if the test process dies without running its teardown.
    process.on('exit', this.onExit);
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  private unhook(): void {
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  static async boot(opts: BootOptions): Promise<Guest> {
    const log = opts.log ?? (() => {});
    const args = [
      '-D', opts.tree,
      '-b',
      '--register=no',
      '--keep-unit',
      '--volatile=overlay',
      '--private-network',
      '--console=read-only',
      `--machine=${opts.machine}`,
      ...opts.binds.map((b) => `--bind-ro=${b.host}:${b.guest}`),
    ];
    log(`systemd-nspawn ${args.join(' ')}`);
    const started = Date.now();
    const cgroups = privateCgroups(opts.machine);
    if (cgroups.length > 0) log(`in cgroups of its own: ${cgroups.join(' ')}`);
    // Through sh, which joins those cgroups and execs nspawn: it must be in them before it starts.
    const nspawn = spawn('/bin/sh', ['-c', 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1/cgroup.procs"; shift; n=$((n - 1)); done; exec systemd-nspawn "$@"', 'sh', String(cgroups.length), ...cgroups, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...GUEST_ENV, TERM: 'dumb' },
    });
    nspawn.on('exit', () => removeCgroups(cgroups));
    const consoleLines: string[] = [];
    const keep = (d: string): void => {
      for (const line of d.split('\n')) {
        if (line.trim() === '') continue;
        consoleLines.push(line);
        if (consoleLines.length > 300) consoleLines.shift();
      }
    };
    nspawn.stdout.setEncoding('utf8').on('data', keep);
    nspawn.stderr.setEncoding('utf8').on('data', keep);
    let exit: string | undefined;
    nspawn.on('exit', (code, signal) => (exit = `systemd-nspawn exited (code ${code}, signal ${signal})`));
    nspawn.on('error', (err) => (exit = `systemd-nspawn failed to start: ${err.message}`));

    const fail = async (err: unknown): Promise<never> => {
      if (nspawn.pid !== undefined && exit === undefined) {
        for (const c of childrenOf(nspawn.pid)) {
          try {
            process.kill(c, 'SIGKILL');
          } catch {
            // gone
          }
        }
        nspawn.kill('SIGKILL');
      }
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`${message}\n--- guest console ---\n${consoleLines.join('\n')}`);
    };

    const ownPidNs = readlinkSync('/proc/self/ns/pid');
    let pid1: number;
    try {
      // The guest's PID 1 is a direct child of systemd-nspawn, in another PID namespace, once
      // it has exec'd systemd; systemd then opens its private bus socket early in boot.
      pid1 = await poll('the guest systemd to start', opts.bootTimeoutMs, async () => {
        if (exit !== undefined) throw new PollAbort(exit);
        if (nspawn.pid === undefined) return undefined;
        for (const c of childrenOf(nspawn.pid)) {
          const comm = readOr(`/proc/${c}/comm`, '').trim();
          let ns: string;
          try {
            ns = readlinkSync(`/proc/${c}/ns/pid`);
          } catch {
            continue;
          }
          if (comm === 'systemd' && ns !== ownPidNs && existsSync(`/proc/${c}/root/run/systemd/private`)) return c;
        }
        return undefined;
      }, 50);
    } catch (err) {
      return fail(err);
    }
    const guest = new Guest(pid1, nspawn);
    try {
      const left = Math.max(1000, opts.bootTimeoutMs - (Date.now() - started));
      const state = await guest.exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: left });
      const settled = state.stdout.trim();
      if (settled !== 'running' && settled !== 'degraded') throw new Error(`guest did not boot: ${settled} ${state.stderr}`);
      if (settled === 'degraded') {
        const failed = await guest.exec(['systemctl', '--failed', '--no-legend']);
        log(`guest is degraded (not our unit): ${failed.stdout.trim()}`);
      }
      log(`guest booted in ${Date.now() - started} ms (PID 1 = host PID ${pid1})`);
      return guest;
    } catch (err) {
      guest.killNow();
      guest.unhook();
      return fail(err);
    }
  }

  /** Runs argv inside the guest (its mount, UTS, IPC, network and PID namespaces), as root. */
  exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.exited) return Promise.reject(new Error('the guest has shut down'));
    return run(
      'nsenter',
      ['--target', String(this.pid1), '--mount', '--uts', '--ipc', '--net', '--pid', '--', ...argv],
      { ...opts, env: { ...GUEST_ENV, ...opts.env } },
    );
  }

  /** Runs a /bin/sh script inside the guest. */
  sh(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(['/bin/sh', '-c', script], opts);
  }

  /** Writes a file inside the guest atomically (temporary file, then rename). */
  async writeFile(path: string, content: string, mode = '0644'): Promise<void> {
    const r = await this.exec(
      ['/bin/sh', '-c', 'set -e; mkdir -p "$(dirname "$1")"; cat > "$1.tmp"; chmod "$2" "$1.tmp"; mv -f "$1.tmp" "$1"', 'sh', path, mode],
      { input: content },
    );
    if (r.code !== 0) throw new Error(`writing ${path} in the guest failed: ${r.stderr}`);
  }

  /** Powers the guest off (SIGTERM to systemd-nspawn asks the guest to power off); forces after the deadline. */
  async shutdown(timeoutMs = 15_000): Promise<void> {
    this.unhook();
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => {
      if (this.exited) resolve();
      this.nspawn.once('exit', () => resolve());
    });
    const within = (ms: number): Promise<boolean> =>
      Promise.race([gone.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    this.nspawn.kill('SIGTERM');
    if (await within(timeoutMs)) return;
    this.killNow();
    if (!(await within(5_000))) throw new Error('systemd-nspawn did not exit after SIGKILL');
  }

  /** SIGKILL to the guest's PID 1 ends its whole PID namespace; then to systemd-nspawn. */
  private killNow(): void {
    if (this.exited) return;
    try {
      process.kill(this.pid1, 'SIGKILL');
    } catch {
      // gone
    }
    this.nspawn.kill('SIGKILL');
  }
}
