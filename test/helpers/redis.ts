/**
 * A real redis-server (Debian's package) for the shared-state tests: on a free port on 127.0.0.1,
 * without persistence (`--save ''`, no AOF: a restart starts empty, as after a crash of a cache),
 * in the foreground so the test owns its PID. Killed when the test ends, whatever happened. A
 * relay in front of it lets a test cut one instance off Redis while the others keep it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { SLACK_MS, waitUntil } from './cli.ts';

export function hasRedis(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A port that was free a moment ago (the OS picks it; closed before it is used). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export class RedisServer {
  readonly port: number;
  /** With `requirepass`: clients must AUTH (the URL carries it). */
  readonly password: string | null;
  child: ChildProcess | null = null;
  #output = '';

  private constructor(port: number, password: string | null) {
    this.port = port;
    this.password = password;
  }

  get url(): string {
    return `redis://${this.password === null ? '' : `:${this.password}@`}127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  static async start(t: TestContext, options: { password?: string } = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options.password ?? null);
    t.after(() => server.kill());
    await server.#spawn();
    return server;
  }

  /** Starts it again on the same port (after kill()): empty, since nothing was persisted. */
  async restart(): Promise<void> {
    await this.#spawn();
  }

  async #spawn(): Promise<void> {
    this.#output = '';
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning', ...(this.password === null ? [] : ['--requirepass', this.password])], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.#output += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.#output += d));
    await waitUntil(`redis-server answers on ${this.port}`, () => this.#answers().then((ok) => ok || (child.exitCode !== null ? Promise.reject(new Error(`redis-server exited: ${this.#output}`)) : false)), 3 * SLACK_MS);
  }

  /** One PING over a raw socket: true on +PONG. */
  #answers(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(this.port, '127.0.0.1');
      const timer = setTimeout(() => finish(false), 1_000);
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve(ok);
      };
      socket.once('connect', () => socket.write('PING\r\n'));
      // Without AUTH a password-protected Redis answers -NOAUTH: it is up all the same.
      socket.once('data', (d: Buffer) => finish(/^(\+PONG|-NOAUTH)/.test(d.toString())));
      socket.once('error', () => finish(false));
    });
  }

  /** Runs redis-cli against it and returns its output (bounded). */
  cli(...args: string[]): string {
    const r = spawnSync('redis-cli', ['-p', String(this.port), '--raw', '--no-auth-warning', ...(this.password === null ? [] : ['-a', this.password]), ...args], { encoding: 'utf8', timeout: SLACK_MS });
    if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** SIGKILL, and wait until it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(child.pid as number, 'SIGCONT');
      child.kill('SIGKILL');
    } catch {
      // gone
    }
    await exited;
  }

  /** Hangs it: the process keeps its port and the kernel keeps accepting bytes, but nothing answers. */
  pause(): void {
    process.kill(this.pid, 'SIGSTOP');
  }

  resume(): void {
    process.kill(this.pid, 'SIGCONT');
  }
}

/**
 * A TCP relay to Redis for one instance: `cut()` drops its connections and refuses new ones (the
 * instance sees Redis gone, the others do not), `restore()` lets it reconnect.
 */
export class RedisRelay {
  readonly port: number;
  readonly #sockets: Set<Socket>;
  #cut = false;

  private constructor(port: number, sockets: Set<Socket>) {
    this.port = port;
    this.#sockets = sockets;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(t: TestContext, target: RedisServer): Promise<RedisRelay> {
    const sockets = new Set<Socket>();
    let relay: RedisRelay | null = null;
    const server = createServer((client) => {
      if (relay === null || relay.#cut) return void client.destroy();
      const upstream = connect(target.port, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.once('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = new RedisRelay((server.address() as AddressInfo).port, sockets);
    t.after(() => {
      for (const s of sockets) s.destroy();
      server.close();
    });
    return relay;
  }

  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }

  restore(): void {
    this.#cut = false;
  }
}
