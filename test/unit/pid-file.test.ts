import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { acquirePidFile, isProcessAlive, readPidFile } from '../../src/launcher/pid-file.ts';
import { AppError } from '../../src/shared/errors.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const pidFileModule = new URL('../../src/launcher/pid-file.ts', import.meta.url).href;
/** For a contender's answer: eight fresh Node processes with tsx start at once here, seconds each on a loaded machine. */
const WAIT_MS = 60_000;

// A contender in another process: the lock is per open file description, so only a real second
// process proves anything. It answers one JSON line per command and releases when stdin closes.
const contenderScript = `
import { createInterface } from 'node:readline';
import { acquirePidFile } from ${JSON.stringify(pidFileModule)};
const path = process.argv[1];
let lock = null;
const say = (event) => process.stdout.write(JSON.stringify({ pid: process.pid, ...event }) + '\\n');
// Tries once, or keeps trying for up to ms milliseconds; stops at the first win. Given the
// holder's pid, it keeps trying only while that holder has the lock: once another process holds
// it, the handover is decided and this one lost.
function attempt(ms, holder) {
  const deadline = Date.now() + ms;
  let last;
  for (let attempts = 1; ; attempts++) {
    try { lock = acquirePidFile(path); return say({ event: 'acquired', attempts }); }
    catch (error) {
      last = error;
      if (error.code !== 'E_PID_LOCKED' || Date.now() >= deadline) break;
      if (holder !== undefined && !error.message.includes('(pid ' + holder + ')')) break;
    }
  }
  say({ event: 'failed', code: last.code, message: last.message });
}
createInterface({ input: process.stdin })
  .on('line', (line) => {
    const [command, arg, holder] = line.split(' ');
    if (command === 'acquire') attempt(Number(arg ?? 0), holder);
    else if (command === 'release') { lock?.release(); lock = null; say({ event: 'released' }); }
  })
  .on('close', () => { lock?.release(); process.exit(0); });
say({ event: 'ready' });
`;

interface ContenderEvent {
  pid: number;
  event: 'ready' | 'acquired' | 'failed' | 'released';
  code?: string;
  message?: string;
  attempts?: number;
}

class Contender {
  readonly child: ChildProcessWithoutNullStreams;
  readonly #events: ContenderEvent[] = [];
  readonly #waiters = new Set<() => void>();
  #stderr = '';
  #exited = false;

  constructor(path: string) {
    this.child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', contenderScript, path], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      this.#events.push(JSON.parse(line) as ContenderEvent);
      this.#notify();
    });
    this.child.stderr.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()));
    this.child.on('exit', () => {
      this.#exited = true;
      this.#notify();
    });
  }

  get pid(): number {
    assert.ok(this.child.pid !== undefined, 'contender did not start');
    return this.child.pid;
  }

  send(command: string): void {
    this.child.stdin.write(`${command}\n`);
  }

  /** The next event not yet taken, waiting for it with a deadline. */
  async next(timeoutMs = WAIT_MS): Promise<ContenderEvent> {
    const deadline = Date.now() + timeoutMs;
    while (this.#events.length === 0) {
      if (this.#exited) throw new Error(`contender ${this.child.pid} exited before answering; stderr: ${this.#stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`contender ${this.child.pid} did not answer within ${timeoutMs} ms; stderr: ${this.#stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        const waiter = (): void => done();
        function done(): void {
          clearTimeout(timer);
          resolvers.delete(waiter);
          resolve();
        }
        const resolvers = this.#waiters;
        resolvers.add(waiter);
      });
    }
    return this.#events.shift() as ContenderEvent;
  }

  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

async function startContenders(path: string, count: number, started: Contender[]): Promise<Contender[]> {
  const contenders = Array.from({ length: count }, () => new Contender(path));
  started.push(...contenders);
  for (const contender of contenders) assert.equal((await contender.next()).event, 'ready');
  return contenders;
}

function assertAppError(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof AppError, `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('pid-file', () => {
  let dir: string;
  const contenders: Contender[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ai-proxy-pid-'));
  });
  after(async () => {
    await Promise.all(contenders.map((c) => c.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the pid on acquire and removes the file on release, once', () => {
    const path = join(dir, 'basic', 'ai-proxy.pid');
    const lock = acquirePidFile(path);
    assert.equal(lock.path, path);
    assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
    assert.ok(statSync(join(dir, 'basic')).isDirectory(), 'the missing parent directory is created');
    lock.release();
    assert.equal(existsSync(path), false);
    lock.release();
  });

  it('writes the pid it is given', () => {
    const path = join(dir, 'given.pid');
    const lock = acquirePidFile(path, 4242);
    try {
      assert.deepEqual(readPidFile(path), { pid: 4242 });
    } finally {
      lock.release();
    }
  });

  it('refuses when another process holds the lock, naming that process', async () => {
    const path = join(dir, 'held.pid');
    const [holder] = await startContenders(path, 1, contenders);
    assert.ok(holder);
    holder.send('acquire');
    assert.equal((await holder.next()).event, 'acquired');

    assertAppError(() => acquirePidFile(path), 'E_PID_LOCKED', new RegExp(`already running \\(pid ${holder.pid}\\)`));
    assert.deepEqual(readPidFile(path), { pid: holder.pid }, 'the failed attempt left the holder\'s pid alone');

    await holder.stop();
    assert.equal(existsSync(path), false, 'the holder removed its file on exit');
  });

  it('reads the pid without taking the lock', async () => {
    const path = join(dir, 'read.pid');
    const [holder, other] = await startContenders(path, 2, contenders);
    assert.ok(holder && other);
    holder.send('acquire');
    assert.equal((await holder.next()).event, 'acquired');
    for (let i = 0; i < 20; i++) assert.deepEqual(readPidFile(path), { pid: holder.pid });
    // Had readPidFile locked, a concurrent run could have lost: it still sees only the holder.
    other.send('acquire');
    const seen = await other.next();
    assert.equal(seen.event, 'failed');
    assert.match(seen.message ?? '', new RegExp(`already running \\(pid ${holder.pid}\\)`));
    await holder.stop();
    await other.stop();
  });

  it('takes over a stale file nobody holds, replacing all of its content', () => {
    const path = join(dir, 'stale.pid');
    writeFileSync(path, '99999999999\nleftover garbage\n');
    const lock = acquirePidFile(path);
    try {
      assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
    } finally {
      lock.release();
    }
  });

  it('refuses a symlink without touching its target', () => {
    const target = join(dir, 'target.txt');
    const path = join(dir, 'link.pid');
    writeFileSync(target, 'precious\n');
    symlinkSync(target, path);
    assertAppError(() => acquirePidFile(path), 'E_PID_FILE', /PID file .*link\.pid is a symbolic link; refusing to follow it/);
    assert.equal(readFileSync(target, 'utf8'), 'precious\n');
    assert.ok(lstatSync(path).isSymbolicLink());
    assert.deepEqual(readPidFile(path), { pid: null, reason: 'invalid' });
  });

  it('refuses a directory and a FIFO', () => {
    const directory = join(dir, 'is-a-dir.pid');
    mkdirSync(directory);
    assertAppError(() => acquirePidFile(directory), 'E_PID_FILE', /is a directory/);

    const fifo = join(dir, 'fifo.pid');
    const made = spawnSync('mkfifo', [fifo]);
    assert.equal(made.status, 0, `mkfifo failed: ${made.stderr?.toString()}`);
    assertAppError(() => acquirePidFile(fifo), 'E_PID_FILE', /not a regular file/);
    assert.deepEqual(readPidFile(fifo), { pid: null, reason: 'invalid' });
  });

  it('explains a parent directory it cannot create', () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, '');
    const path = join(file, 'sub', 'ai-proxy.pid');
    assertAppError(() => acquirePidFile(path), 'E_PID_FILE', new RegExp(`cannot create PID file directory ${file}/sub: ${file} is a regular file, not a directory`));
  });

  it('explains a directory it may not write to', { skip: process.getuid?.() === 0 ? 'root bypasses directory permissions' : false }, () => {
    const locked = join(dir, 'read-only');
    mkdirSync(locked, { mode: 0o500 });
    chmodSync(locked, 0o500);
    try {
      assertAppError(() => acquirePidFile(join(locked, 'sub', 'ai-proxy.pid')), 'E_PID_FILE', new RegExp(`cannot create PID file directory ${locked}/sub: permission denied`));
      assertAppError(() => acquirePidFile(join(locked, 'ai-proxy.pid')), 'E_PID_FILE', /permission denied/);
    } finally {
      chmodSync(locked, 0o700);
    }
  });

  it('reads missing, empty and invalid files as such', () => {
    assert.deepEqual(readPidFile(join(dir, 'nope.pid')), { pid: null, reason: 'missing' });
    assert.deepEqual(readPidFile(join(dir, 'plain-file-parent', 'x', 'nope.pid')), { pid: null, reason: 'missing' });
    const path = join(dir, 'content.pid');
    writeFileSync(path, '');
    assert.deepEqual(readPidFile(path), { pid: null, reason: 'empty' });
    writeFileSync(path, ' \n');
    assert.deepEqual(readPidFile(path), { pid: null, reason: 'empty' });
    for (const bad of ['abc\n', '12 34\n', '-5\n', '0\n', '1e3\n', '99999999999\n', `${'1'.repeat(100)}\n`]) {
      writeFileSync(path, bad);
      assert.deepEqual(readPidFile(path), { pid: null, reason: 'invalid' }, JSON.stringify(bad));
    }
    writeFileSync(path, '1234\n');
    assert.deepEqual(readPidFile(path), { pid: 1234 });
  });

  it('tells live processes from dead ones', async () => {
    assert.equal(isProcessAlive(process.pid), true);
    assert.equal(isProcessAlive(1), true);
    for (const bogus of [0, -1, 1.5, Number.NaN]) assert.equal(isProcessAlive(bogus), false);
    const [short] = await startContenders(join(dir, 'alive.pid'), 1, contenders);
    assert.ok(short);
    assert.equal(isProcessAlive(short.pid), true);
    await short.stop();
    assert.equal(isProcessAlive(short.pid), false);
  });

  it('lets exactly one of many simultaneous contenders win', async () => {
    const path = join(dir, 'race.pid');
    const racers = await startContenders(path, 8, contenders);
    for (const racer of racers) racer.send('acquire');
    const results = await Promise.all(racers.map((racer) => racer.next()));
    const winners = results.filter((r) => r.event === 'acquired');
    assert.equal(winners.length, 1, `winners: ${JSON.stringify(results)}`);
    const winner = winners[0];
    assert.ok(winner);
    for (const loser of results.filter((r) => r !== winner)) {
      assert.equal(loser.code, 'E_PID_LOCKED');
      assert.match(loser.message ?? '', new RegExp(`already running \\(pid ${winner.pid}\\)`));
    }
    assert.deepEqual(readPidFile(path), { pid: winner.pid });
    await Promise.all(racers.map((r) => r.stop()));
  });

  it('keeps one winner when the holder releases while others are mid-acquire (inode check)', async () => {
    const path = join(dir, 'handover.pid');
    // Several rounds, because each round only sometimes lands a contender between open() and flock()
    // while the holder unlinks; without the inode check such a contender also "wins".
    for (let round = 0; round < 3; round++) {
      const [holder, ...challengers] = await startContenders(path, 7, contenders);
      assert.ok(holder);
      holder.send('acquire');
      assert.equal((await holder.next()).event, 'acquired');
      // Every challenger hammers the lock while the holder lets go; each stops at its first win, or
      // once another has won. The window only has to outlast the holder's release on a loaded
      // machine (a fixed 800 ms did not: six spinning challengers compete with it for the CPU).
      for (const challenger of challengers) challenger.send(`acquire ${WAIT_MS / 2} ${holder.pid}`);
      holder.send('release');
      assert.equal((await holder.next()).event, 'released');
      const results = await Promise.all(challengers.map((c) => c.next()));
      const winners = results.filter((r) => r.event === 'acquired');
      assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(results)}`);
      const winner = winners[0];
      assert.ok(winner);
      assert.deepEqual(readPidFile(path), { pid: winner.pid });
      for (const loser of results.filter((r) => r !== winner)) assert.equal(loser.code, 'E_PID_LOCKED', JSON.stringify(loser));
      await Promise.all([holder, ...challengers].map((c) => c.stop()));
      assert.equal(existsSync(path), false);
    }
  });
});
