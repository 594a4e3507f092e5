/**
 * Lifecycle timings of the real CLI (issue 2's closing figures), median of several runs, each next
 * to its target. A benchmark, not a test: it prints a table and writes the samples to
 * bench/results/lifecycle-<timestamp>.json. Run `npm run build` first, then
 *
 *   node --import tsx bench/lifecycle.ts [--runs N] [--reloads N]
 *
 * Figures (each run starts a fresh instance in a temporary directory, 127.0.0.1 port 0, mock provider):
 * - `node -e 0`: the floor every Node start pays, measured in the same run for comparison.
 * - `run -d`: from spawning `ai-proxy run -d` to its exit 0 (three Node starts: CLI, launcher, server).
 * - `reload` (CLI): `ai-proxy reload` to its exit 0, with a real change applied (a new generation).
 * - reload apply (server): the gateway's own reload (re-read the file, validate, build the routing
 *   snapshot, swap), timed around `Gateway.reload()` in this process; the server does not report
 *   its apply time. Cross-checked by RELOADING=1 → READY=1 as systemd sees them on a notify
 *   socket: the server's `reloading` and `reloaded` messages each become one datagram at once, so
 *   that gap is the apply time plus IPC and scheduling (near 0 when both messages are read together).
 * - `stop`: `ai-proxy stop` with no traffic, to its exit 0 (both processes gone, PID file removed).
 * - idle RSS (VmRSS from /proc) of the launcher and the server, a second after `run -d` returned.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { Output } from '../src/server/output.ts';
import { openNotifySocket, type NotifySocket } from '../test/helpers/notify-socket.ts';

const root = new URL('..', import.meta.url).pathname;
const BIN = join(root, 'bin/ai-proxy.js');
const IDLE_SETTLE_MS = 1_000;

/** Other work on the machine inflates every wall time: the load average is printed beside the figures. */
let loadAtStart: string[] = [];

const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '7' }, reloads: { type: 'string', default: '3' } },
});
const RUNS = Number(args.runs);
const RELOADS = Number(args.reloads);

interface Figure {
  label: string;
  unit: 'ms' | 'MB';
  target: number | null;
  stretch?: number;
  samples: number[];
}

const figures = {
  node: { label: 'node -e 0 (baseline)', unit: 'ms', target: null, samples: [] } as Figure,
  start: { label: 'run -d → exit 0', unit: 'ms', target: 450, stretch: 350, samples: [] } as Figure,
  reloadCli: { label: 'reload round trip (CLI)', unit: 'ms', target: 200, samples: [] } as Figure,
  reloadApply: { label: 'reload apply (Gateway.reload, in process)', unit: 'ms', target: 20, samples: [] } as Figure,
  reloadNotify: { label: 'reload as systemd sees it (RELOADING→READY)', unit: 'ms', target: null, samples: [] } as Figure,
  stop: { label: 'stop, no traffic → exit 0', unit: 'ms', target: 200, samples: [] } as Figure,
  launcherRss: { label: 'launcher idle RSS', unit: 'MB', target: 60, samples: [] } as Figure,
  serverRss: { label: 'server idle RSS', unit: 'MB', target: 80, samples: [] } as Figure,
  launcherHwm: { label: 'launcher peak RSS (VmHWM)', unit: 'MB', target: null, samples: [] } as Figure,
  serverHwm: { label: 'server peak RSS (VmHWM)', unit: 'MB', target: null, samples: [] } as Figure,
  // VmRSS counts the node binary's pages, shared by every node process; RssAnon is what an instance really adds.
  launcherAnon: { label: 'launcher private RSS (RssAnon)', unit: 'MB', target: null, samples: [] } as Figure,
  serverAnon: { label: 'server private RSS (RssAnon)', unit: 'MB', target: null, samples: [] } as Figure,
  // CPU time (10 ms ticks) is what contention on a busy machine inflates least: what the wall times are made of.
  nodeCpu: { label: 'CPU: node -e 0', unit: 'ms', target: null, samples: [] } as Figure,
  cliCpu: { label: 'CPU: run -d command', unit: 'ms', target: null, samples: [] } as Figure,
  launcherCpu: { label: 'CPU: launcher until ready', unit: 'ms', target: null, samples: [] } as Figure,
  serverCpu: { label: 'CPU: server until ready', unit: 'ms', target: null, samples: [] } as Figure,
  reloadCpu: { label: 'CPU: reload command', unit: 'ms', target: null, samples: [] } as Figure,
  stopCpu: { label: 'CPU: stop command', unit: 'ms', target: null, samples: [] } as Figure,
};

function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(AI_PROXY_|WATCHDOG_)/.test(key) || ['NOTIFY_SOCKET', 'NODE_OPTIONS', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'GEMINI_API_KEY', 'RUNTIME_DIRECTORY', 'LOGS_DIRECTORY', 'INVOCATION_ID'].includes(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** CPU time (ms) of the children this process has reaped: cutime + cstime from /proc/self/stat. */
function reapedChildrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

/**
 * Spawns a command and resolves with its wall time (spawn → exit), its CPU time (it is the only
 * child reaped meanwhile; a detached launcher is not our child) and output; rejects on a bad exit
 * or after 30 s.
 */
function timed(command: string, argv: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; cpuMs: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const cpuBefore = reapedChildrenCpuMs();
    const started = performance.now();
    const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code, signal) => {
      const ms = performance.now() - started;
      clearTimeout(timer);
      child.on('close', () => {
        if (code === 0) resolve({ ms, cpuMs: reapedChildrenCpuMs() - cpuBefore, stdout, stderr });
        else reject(new Error(`${command} ${argv.join(' ')} exited ${signal ?? code}\n${stdout}${stderr}`));
      });
    });
  });
}

const cli = (argv: string[], env: NodeJS.ProcessEnv) => timed(process.execPath, [BIN, ...argv], env);

function yaml(reply: string): string {
  return `listen:\n  host: 127.0.0.1\n  port: 0\nwatch-config: false\nproviders:\n  - name: mock\n    type: mock\n    models: [mock, mock-*]\n    mock:\n      reply: ${JSON.stringify(reply)}\n`;
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no ${field} for pid ${pid}`);
  return Number(match[1]);
}

/** utime + stime from /proc/<pid>/stat, in ms (USER_HZ is 100 on Linux: 10 ms resolution). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

async function oneRun(run: number, notify: NotifySocket, dir: string): Promise<void> {
  const runDir = join(dir, `run-${run}`);
  mkdirSync(runDir);
  const config = join(runDir, 'ai-proxy.yaml');
  writeFileSync(config, yaml('first'));
  const pidFile = join(runDir, 'ai-proxy.pid');
  const env = cleanEnv({ NOTIFY_SOCKET: notify.path, XDG_RUNTIME_DIR: runDir, XDG_STATE_HOME: runDir, STATE_DIRECTORY: runDir });
  const flags = ['--pid-file', pidFile];

  const bare = await timed(process.execPath, ['-e', '0'], env);
  figures.node.samples.push(bare.ms);
  figures.nodeCpu.samples.push(bare.cpuMs);

  const start = await cli(['run', '-d', '-c', config, ...flags, '--log-file', join(runDir, 'ai-proxy.log')], env);
  figures.start.samples.push(start.ms);
  figures.cliCpu.samples.push(start.cpuMs);
  const launcher = Number(/pid (\d+)/.exec(start.stdout)?.[1]);
  let server: number | undefined;
  try {
    server = childrenOf(launcher)[0];
    if (server === undefined) throw new Error('no server process');
    figures.launcherCpu.samples.push(cpuMs(launcher));
    figures.serverCpu.samples.push(cpuMs(server));
    await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
    figures.launcherRss.samples.push(statusKb(launcher, 'VmRSS') / 1024);
    figures.serverRss.samples.push(statusKb(server, 'VmRSS') / 1024);
    figures.launcherHwm.samples.push(statusKb(launcher, 'VmHWM') / 1024);
    figures.serverHwm.samples.push(statusKb(server, 'VmHWM') / 1024);
    figures.launcherAnon.samples.push(statusKb(launcher, 'RssAnon') / 1024);
    figures.serverAnon.samples.push(statusKb(server, 'RssAnon') / 1024);

    for (let i = 0; i < RELOADS; i++) {
      writeFileSync(config, yaml(`reply ${run}.${i}`));
      const from = notify.messages.length;
      const reload = await cli(['reload', ...flags], env);
      if (!/reload applied: generation \d+/.test(reload.stdout)) throw new Error(`reload not applied: ${reload.stdout}${reload.stderr}`);
      figures.reloadCli.samples.push(reload.ms);
      figures.reloadCpu.samples.push(reload.cpuMs);
      const reloading = await notify.waitFor((m) => m.pid === launcher && m.fields.RELOADING === '1', 5_000, from);
      const ready = await notify.waitFor((m) => m.pid === launcher && m.fields.READY === '1', 5_000, notify.messages.indexOf(reloading) + 1);
      figures.reloadNotify.samples.push((ready.receivedMonotonicUsec - reloading.receivedMonotonicUsec) / 1000);
    }

    const stop = await cli(['stop', ...flags], env);
    figures.stop.samples.push(stop.ms);
    figures.stopCpu.samples.push(stop.cpuMs);
    if (existsSync(pidFile)) throw new Error('stop returned with the PID file still there');
  } finally {
    // A failed run must not leave processes behind.
    if (server !== undefined) killQuietly(server);
    killQuietly(launcher);
  }
}

/**
 * The apply time: the launcher's load (re-read, validate) and the gateway's reload (build the
 * routing snapshot, swap) timed around the two calls, in this process, on a gateway started from the same kind of config.
 */
let benchOutput: Output | undefined;

async function inProcessApply(run: number, dir: string): Promise<void> {
  const { Gateway } = await import('../src/server/gateway.ts');
  const { Output: OutputClass } = await import('../src/server/output.ts');
  const { createLogger } = await import('../src/shared/logger.ts');
  const config = join(dir, `in-process-${run}.yaml`);
  writeFileSync(config, yaml('first'));
  // One Output for every run: each registers a process 'exit' flush.
  const output = (benchOutput ??= new OutputClass(new Writable({ write: (_chunk, _encoding, done) => done() })));
  const logger = createLogger({ name: 'server', level: 'info', format: 'text', write: (line) => output.line(line) });
  const { bindListener } = await import('../src/launcher/listener.ts');
  const listener = await bindListener('127.0.0.1', 0);
  const { loadConfig } = await import('../src/shared/config/load.ts');
  const gateway = new Gateway({ instance: { config, pidFile: '' }, listen: { fd: listener.fd, host: '127.0.0.1' } }, output, logger);
  await gateway.start(loadConfig({ path: config }), 1, null);
  try {
    for (let i = 0; i < RELOADS; i++) {
      writeFileSync(config, yaml(`in-process ${run}.${i}`));
      const started = performance.now();
      // The launcher loads the config and the gateway applies it: both are the reload's cost.
      const verdict = await gateway.reload('control', loadConfig({ path: config }));
      const ms = performance.now() - started;
      if (!verdict.ok || verdict.generation !== i + 2) throw new Error(`in-process reload not applied: ${JSON.stringify(verdict)}`);
      figures.reloadApply.samples.push(ms);
    }
  } finally {
    await gateway.stop({ timeoutMs: 1_000, delayMs: 0 }, () => undefined);
    listener.close();
  }
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function verdict(f: Figure, value: number): string {
  if (f.target === null) return '';
  if (value > f.target) return 'MISSED';
  if (f.stretch !== undefined) return value <= f.stretch ? 'met (stretch too)' : `met (stretch ${f.stretch} ${f.unit} missed)`;
  return 'met';
}

async function main(): Promise<void> {
  if (!existsSync(join(root, 'dist/cli.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  // Short: sun_path holds 108 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'aip-bench-'));
  loadAtStart = loadavg().map((l) => l.toFixed(2));
  const notify = await openNotifySocket(dir);
  try {
    // One discarded warm-up run: the first start after a build also pays for the page cache.
    await oneRun(0, notify, dir);
    await inProcessApply(0, dir);
    for (const f of Object.values(figures)) f.samples.length = 0;
    for (let run = 1; run <= RUNS; run++) {
      await oneRun(run, notify, dir);
      await inProcessApply(run, dir);
    }
  } finally {
    await notify.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const rows = Object.values(figures).map((f) => {
    const m = median(f.samples);
    const fmt = (v: number): string => v.toFixed(1);
    return {
      figure: f.label,
      median: `${fmt(m)} ${f.unit}`,
      range: `${fmt(Math.min(...f.samples))}–${fmt(Math.max(...f.samples))}`,
      target: f.target === null ? '—' : `≤ ${f.target} ${f.unit}${f.stretch !== undefined ? ` (stretch ${f.stretch})` : ''}`,
      verdict: verdict(f, m),
    };
  });
  const widths = (['figure', 'median', 'range', 'target', 'verdict'] as const).map((k) => Math.max(k.length, ...rows.map((r) => r[k].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  const load = loadavg().map((l) => l.toFixed(2));
  console.log(`ai-proxy lifecycle, median of ${RUNS} runs (${RELOADS} reloads each), node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load average ${loadAtStart.join(' ')} → ${load.join(' ')}`);
  console.log(line(['figure', 'median', 'range', 'target', 'verdict']));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line([r.figure, r.median, r.range, r.target, r.verdict]));

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = join(root, 'bench/results', `lifecycle-${stamp}.json`);
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  const result = {
    bench: 'lifecycle',
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? null,
    loadAverage: { start: loadAtStart.map(Number), end: loadavg() },
    runs: RUNS,
    reloadsPerRun: RELOADS,
    figures: Object.fromEntries(Object.entries(figures).map(([key, f]) => [key, { ...f, median: median(f.samples), met: f.target === null ? null : median(f.samples) <= f.target }])),
  };
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nwritten to ${out}`);
}

await main();
// The in-process gateways leave nothing that matters running, but a benchmark must not hang on a stray timer.
process.exit(0);
