/**
 * Processes the bench starts and watches: the fake upstream, the bare forwarder, nginx and the
 * gateway, each pinned to its share of the cores, plus what /proc says about them (RSS, CPU time,
 * children). Every process started here is registered and stopped by `stopAll()`, also on errors.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { setPriority } from 'node:os';
import { join } from 'node:path';

/** Where processes run: the proxy under test on one core, load generator and fake upstream on the other. */
export interface Cores {
  proxy: string | null;
  load: string | null;
}

const started = new Set<ChildProcess>();
/** Daemons the bench started (`run -d`): not children of the bench, so stopped by PID file and pid. */
const daemons = new Map<string, { cli: string; pid: number }>();
let niceness = 0;

/**
 * The priority every process under test gets. With autogroup scheduling (Linux's default for
 * desktops and VMs) a process's nice value only counts inside its session, and the processes here
 * run in sessions of their own, so the session's autogroup gets the same value.
 */
export function setNiceness(value: number): void {
  niceness = value;
  boost(process.pid);
}

export function boost(pid: number): void {
  if (niceness === 0 || pid <= 0) return;
  try {
    setPriority(pid, niceness);
  } catch {
    // Not allowed.
  }
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(niceness));
  } catch {
    // No autogroup scheduling, or not allowed.
  }
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** A command line with a CPU pin in front (descriptor limits are inherited from this process). */
export function wrap(argv: string[], cpus: string | null): string[] {
  return cpus === null ? argv : ['taskset', '-c', cpus, ...argv];
}

export function launch(argv: string[], options: { env?: NodeJS.ProcessEnv; stdout?: 'pipe' | 'ignore'; stdin?: 'pipe' | 'ignore'; cwd?: string } = {}): ChildProcess {
  const [command, ...args] = argv as [string, ...string[]];
  const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: [options.stdin ?? 'ignore', options.stdout ?? 'pipe', 'pipe'], detached: true });
  started.add(child);
  if (child.pid !== undefined) boost(child.pid);
  child.once('exit', () => started.delete(child));
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  (child as ChildProcess & { stderrTail: () => string }).stderrTail = () => stderr;
  return child;
}

export function stderrTail(child: ChildProcess): string {
  return (child as ChildProcess & { stderrTail?: () => string }).stderrTail?.() ?? '';
}

/** Resolves with the first JSON line a child prints (`{"port":N}`), or rejects after the deadline. */
export function firstJsonLine<T>(child: ChildProcess, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`no ready line within ${timeoutMs} ms: ${stderrTail(child)}`)), timeoutMs);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      buffered += d;
      const nl = buffered.indexOf('\n');
      if (nl === -1) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buffered.slice(0, nl)) as T);
      } catch (error) {
        reject(error as Error);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before it was ready: ${stderrTail(child)}`));
    });
  });
}

export async function stop(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, timeoutMs);
  await exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...[...daemons].map(([pidFile, d]) => stopDaemon(d.cli, pidFile, d.pid)), ...[...started].map((child) => stop(child, 5_000))]);
  daemons.clear();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** GET until it answers 200, or throw after the deadline. */
export async function waitHttp(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const req = request(url, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once('error', () => resolve(0));
      req.end();
    });
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** VmRSS in bytes (0 when the process is gone). */
export function rss(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** User + system CPU time of a process, in seconds (utime + stime from /proc/<pid>/stat). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

export function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export const MB = 1024 * 1024;

/** The two cores split, when the machine has at least two and taskset exists. */
export function coreSplit(cpuCount: number): Cores {
  if (cpuCount < 2 || !hasCommand('taskset')) return { proxy: null, load: null };
  return { proxy: '0', load: cpuCount === 2 ? '1' : `1-${cpuCount - 1}` };
}

/** Pins this (the load-generating) process to the load cores. */
export function pinSelf(cores: Cores): void {
  if (cores.load !== null) spawnSync('taskset', ['-a', '-p', '-c', cores.load, String(process.pid)], { stdio: 'ignore' });
}

// ---------------------------------------------------------------------------------------------
// The processes under test.

export interface Service {
  name: string;
  url: string;
  /** Every process whose RSS and CPU count for this service. */
  pids: () => number[];
  child: ChildProcess;
  close: () => Promise<void>;
}

export interface Toolkit {
  /** The bundled bench helpers and the gateway snapshot. */
  dir: string;
  cores: Cores;
  nofile: number;
}

export async function startFakeUpstream(kit: Toolkit): Promise<Service> {
  const child = launch(wrap([process.execPath, join(kit.dir, 'fake-upstream.js'), '0'], kit.cores.load));
  const { port } = await firstJsonLine<{ port: number }>(child);
  return { name: 'fake upstream', url: `http://127.0.0.1:${port}`, pids: () => [child.pid as number], child, close: () => stop(child) };
}

export async function startForwarder(kit: Toolkit, upstream: string): Promise<Service> {
  const child = launch(wrap([process.execPath, join(kit.dir, 'forwarder.js'), '0', upstream], kit.cores.proxy));
  const { port } = await firstJsonLine<{ port: number }>(child);
  return { name: 'http-proxy-3', url: `http://127.0.0.1:${port}`, pids: () => [child.pid as number], child, close: () => stop(child) };
}

/**
 * nginx as the fast-proxy yardstick: one worker, upstream keep-alive, a private prefix, config
 * and PID file, in the foreground (`daemon off`). `/` is proxied as nginx is usually set up;
 * `/sse/` additionally turns proxy buffering off, as an SSE deployment must. Keep-alive
 * connections are never recycled (nginx's default is every 1,000 requests; Node's servers never).
 * With `staticBody` instead, nginx is the fake upstream itself (cheaper per request than Node, so
 * the load side leaves more room to the proxies), on the load core.
 */
export async function startNginx(kit: Toolkit, target: { upstreamPort: number } | { staticBody: string }): Promise<Service | null> {
  if (!hasCommand('nginx')) return null;
  const proxy = 'upstreamPort' in target;
  const prefix = join(kit.dir, proxy ? 'nginx-proxy' : 'nginx-static');
  mkdirSync(prefix, { recursive: true });
  const port = await freePort();
  const conf = join(prefix, 'nginx.conf');
  const isRoot = process.getuid?.() === 0;
  const server = proxy
    ? `  upstream fake { server 127.0.0.1:${target.upstreamPort}; keepalive 64; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://fake; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location /sse/ { proxy_pass http://fake/; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; proxy_read_timeout 1h; }
  }`
    : `  server {
    listen 127.0.0.1:${port};
    location / { default_type application/json; return 200 '${target.staticBody}'; }
  }`;
  writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes 1;
${isRoot ? 'user root;\n' : ''}worker_rlimit_nofile ${kit.nofile};
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log error;
events { worker_connections ${Math.floor(kit.nofile / 2)}; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
${server}
}
`,
  );
  const child = launch(wrap(['nginx', '-p', prefix, '-c', conf], proxy ? kit.cores.proxy : kit.cores.load));
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/`, 10_000).catch((error: unknown) => {
    throw new Error(`nginx did not start: ${(error as Error).message}\n${stderrTail(child)}${existsSync(`${prefix}/error.log`) ? readFileSync(`${prefix}/error.log`, 'utf8') : ''}`, { cause: error });
  });
  for (const pid of children(child.pid as number)) boost(pid);
  return { name: proxy ? 'nginx' : 'nginx static upstream', url, pids: () => [child.pid as number, ...children(child.pid as number)], child, close: () => stop(child) };
}

export interface GatewayOptions {
  upstream: string;
  accessLog: boolean;
  /** Node flags for the launcher; the server is forked with the same execArgv (--cpu-prof). */
  nodeArgs?: string[];
  tag: string;
  /** Another build to run (a directory with bin/, dist/ and package.json), for A/B comparisons. */
  app?: string;
  /** Record every request in the usage ledger (a file in the gateway's scratch directory); default off, the baseline. */
  ledger?: boolean;
  /** The client key's rpm (the limiter runs on every request); none by default. */
  rpm?: number;
  /** shared-state.redis: limits, cooldowns and usage through this Redis. */
  sharedState?: string;
}

export interface Gateway extends Service {
  launcherPid: number;
  serverPid: () => number;
  dir: string;
  pidFile: string;
  config: string;
}

export const CLIENT_KEY = 'sk-bench-client-0123456789';

/** The gateway config the scenarios use: one openai-compatible provider in front of the fake upstream. */
export function gatewayYaml(port: number, upstream: string, accessLog: boolean, ledger: string | null = null, extra: { rpm?: number; sharedState?: string } = {}): string {
  return `listen: { host: 127.0.0.1, port: ${port} }
watch-config: false
shutdown-timeout: 10s
log: { access: ${accessLog} }
usage: ${ledger === null ? '{ ledger: false }' : `{ ledger: true, file: ${JSON.stringify(ledger)} }`}
pricing: { bench-model: { input: 2.5, output: 10 } }
client-keys:
  - { name: bench, key: ${CLIENT_KEY}${extra.rpm === undefined ? '' : `, rpm: ${extra.rpm}`} }
providers:
  - name: fake
    type: openai-compatible
    base-url: ${upstream}/v1
    api-keys: [sk-bench-upstream-key]
    models: [bench-model]
${extra.sharedState === undefined ? '' : `shared-state: { redis: "${extra.sharedState}", prefix: "bench:" }\n`}`;
}

/** `ai-proxy run` in the foreground (launcher + server, both on the proxy core), logging to a file. */
export async function startGateway(kit: Toolkit, options: GatewayOptions): Promise<Gateway> {
  const dir = join(kit.dir, `gw-${options.tag}`);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const config = join(dir, 'ai-proxy.yaml');
  writeFileSync(config, gatewayYaml(port, options.upstream, options.accessLog, options.ledger === true ? join(dir, 'usage.db') : null, { ...(options.rpm === undefined ? {} : { rpm: options.rpm }), ...(options.sharedState === undefined ? {} : { sharedState: options.sharedState }) }));
  const pidFile = join(dir, 'ai-proxy.pid');
  const env = gatewayEnv({});
  const child = launch(wrap([process.execPath, ...(options.nodeArgs ?? []), join(options.app ?? join(kit.dir, 'app'), 'bin/ai-proxy.js'), 'run', '-c', config, '--pid-file', pidFile, '--log-file', join(dir, 'ai-proxy.log')], kit.cores.proxy), { env, stdout: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  try {
    await Promise.race([
      waitHttp(`${url}/readyz`, 20_000),
      new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`ai-proxy exited (${code}) before it served`)))),
    ]);
  } catch (error) {
    await stop(child);
    throw new Error(`${(error as Error).message}\n${stderrTail(child)}`, { cause: error });
  }
  const launcherPid = child.pid as number;
  const serverPid = (): number => children(launcherPid)[0] ?? 0;
  boost(serverPid());
  return {
    name: 'ai-proxy',
    url,
    launcherPid,
    serverPid,
    pids: () => [launcherPid, serverPid()].filter((p) => p > 0),
    child,
    dir,
    pidFile,
    config,
    close: () => stop(child, 20_000),
  };
}

/** The environment for the gateway: nothing from the shell that changes its behaviour. */
export function gatewayEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(AI_PROXY_|WATCHDOG_)/.test(key) || ['NOTIFY_SOCKET', 'NODE_OPTIONS', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'GEMINI_API_KEY', 'RUNTIME_DIRECTORY', 'LOGS_DIRECTORY', 'INVOCATION_ID'].includes(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

export function totalRss(service: Service): number {
  return service.pids().reduce((sum, pid) => sum + rss(pid), 0);
}

export function totalCpu(service: Service): number {
  return service.pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

export interface DaemonGateway {
  url: string;
  launcherPid: number;
  /** The launcher's children: one server, two while an old one drains. */
  serverPids: () => number[];
  pidFile: string;
  config: string;
  cli: string;
  dir: string;
  close: () => Promise<void>;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Polls until the process is gone (or a zombie); false at the deadline. */
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/** One CLI command to its exit: code, output, wall time. */
export function runCommand(argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; out: string; ms: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: performance.now() - started });
    });
  });
}

async function stopDaemon(cli: string, pidFile: string, pid: number): Promise<void> {
  if (!alive(pid)) return;
  const servers = children(pid);
  await runCommand([process.execPath, cli, 'stop', '--pid-file', pidFile], gatewayEnv({}), 30_000);
  if (await waitGone(pid, 5_000)) return;
  for (const p of [pid, ...servers, ...children(pid)]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

/**
 * The real CLI's `ai-proxy run -d` (launcher and server on the proxy core), as an operator starts
 * it; `ai-proxy stop` stops it. Access log off, like the overhead scenario's plain subject.
 */
export async function startDaemonGateway(kit: Toolkit, options: { upstream: string; tag: string }): Promise<DaemonGateway> {
  const dir = join(kit.dir, `gw-${options.tag}`);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const config = join(dir, 'ai-proxy.yaml');
  writeFileSync(config, gatewayYaml(port, options.upstream, false));
  const pidFile = join(dir, 'ai-proxy.pid');
  const cli = join(kit.dir, 'app/bin/ai-proxy.js');
  const r = await runCommand(wrap([process.execPath, cli, 'run', '-d', '--json', '-c', config, '--pid-file', pidFile, '--log-file', join(dir, 'ai-proxy.log')], kit.cores.proxy), gatewayEnv({}), 60_000);
  let started: { outcome?: string; pid?: number; url?: string } = {};
  try {
    started = JSON.parse(r.out) as typeof started;
  } catch {
    // Reported below with the output.
  }
  if (r.code !== 0 || started.outcome !== 'started' || typeof started.pid !== 'number') throw new Error(`ai-proxy run -d failed (exit ${r.code}): ${r.out}`);
  const launcherPid = started.pid;
  daemons.set(pidFile, { cli, pid: launcherPid });
  boost(launcherPid);
  for (const p of children(launcherPid)) boost(p);
  return {
    url: started.url ?? `http://127.0.0.1:${port}`,
    launcherPid,
    serverPids: () => children(launcherPid),
    pidFile,
    config,
    cli,
    dir,
    close: async () => {
      daemons.delete(pidFile);
      await stopDaemon(cli, pidFile, launcherPid);
    },
  };
}
