/**
 * The restart-mechanism bench's subject: a parent (the launcher's stand-in) and a minimal HTTP
 * server child, so that only the way connections reach a new process is measured, not the
 * gateway. One of three mechanisms (issue 11, point 2):
 *   inherited-fd  the parent binds a socket and never listens on it (net._createServerHandle, as
 *                 src/launcher/listener.ts does); each child gets it as fd 4 and listens on its
 *                 copy; at a swap the old child closes its copy once the new one listens.
 *   ipc-handoff   the parent listens with pauseOnConnect and sends each accepted socket to the
 *                 serving child over IPC (child.send('socket', socket)); a swap moves the target.
 *   reuseport     each child listens on the port itself with reusePort (SO_REUSEPORT: one accept
 *                 queue per socket); at a swap the old child closes its socket.
 *
 *   node handover.js parent <mechanism> [polite|close-idle]   prints {"port":N} (or {"unsupported":"why"}), then
 *                                           answers one JSON line per stdin command:
 *                                           swap | stats | quit
 *   node handover.js child <mechanism> <drain> [port]   forked by the parent
 *
 * Times are process.hrtime in ms (CLOCK_MONOTONIC, the same clock in every process here), so the
 * bench can place each request relative to the swaps.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import * as net from 'node:net';
import { createInterface } from 'node:readline';
import { COMPLETION_JSON } from './lib/payloads.ts';

const MECHANISMS = ['inherited-fd', 'ipc-handoff', 'reuseport'] as const;
type Mechanism = (typeof MECHANISMS)[number];
/** How the old child drains: `polite` (ai-proxy's) or `close-idle` (http.Server#close). */
type Drain = 'polite' | 'close-idle';

/** A child that neither listens nor exits within this is a failed swap (the bench reports it). */
const CHILD_DEADLINE_MS = 20_000;

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** reusePort in net's listen(): Node 22.12 (22.x) and 23.1 (nodejs/node#55408); Node 20 ignores the option. */
function reusePortSupport(version = process.versions.node): string | null {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12)) return null;
  return `Node ${version} has no reusePort in listen() (Node >= 22.12 / 23.1)`;
}

// ---- the child -------------------------------------------------------------------------------

function runChild(mechanism: Mechanism, port: number, drain: Drain): void {
  const body = Buffer.from(COMPLETION_JSON);
  let draining = false;
  const sockets = new Set<net.Socket>();
  const exitWhenIdle = (): void => {
    if (draining && sockets.size === 0) process.exit(0);
  };
  const server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.once('end', () => {
      // Draining: this answer is the connection's last (Node closes it once it is written).
      if (draining) res.setHeader('connection', 'close');
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  });
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      exitWhenIdle();
    });
  });
  const ready = (): void => {
    const address = server.address();
    process.send?.({ t: 'ready', port: typeof address === 'object' && address !== null ? address.port : port });
  };
  process.on('message', (message: unknown, handle: unknown) => {
    if (message === 'socket' && handle instanceof net.Socket) {
      server.emit('connection', handle);
      handle.resume();
      return;
    }
    if (message === 'drain') {
      draining = true;
      // Stop accepting: the listening copy goes (inherited-fd, reuseport); ipc-handoff's parent already sends elsewhere.
      if (server.listening) {
        // As ai-proxy's restart drain does (src/server/http/tracker.ts): net.Server's close only stops
        // accepting; each connection closes after its next answer. http.Server's close (the
        // `close-idle` variant) also destroys every connection idle at that instant (Node >= 19),
        // which resets those whose next request is already on its way.
        if (drain === 'close-idle') server.close();
        else net.Server.prototype.close.call(server);
      }
      exitWhenIdle();
      setTimeout(() => process.exit(3), CHILD_DEADLINE_MS).unref();
    }
  });
  process.on('disconnect', () => process.exit(0));
  server.on('error', (error) => {
    process.stderr.write(`handover child (${mechanism}): ${error.message}\n`);
    process.exit(2);
  });
  switch (mechanism) {
    case 'inherited-fd':
      server.listen({ fd: 4 }, ready);
      break;
    case 'reuseport':
      server.listen({ host: '127.0.0.1', port, reusePort: true } as net.ListenOptions, ready);
      break;
    case 'ipc-handoff':
      ready();
      break;
  }
}

// ---- the parent ------------------------------------------------------------------------------

interface Swap {
  ok: boolean;
  error?: string;
  /** fork of the new child → its `ready`. */
  forkMs: number;
  readyMs: number;
  /** the old child's exit after its drain. */
  oldExitMs: number;
}

interface Child {
  process: ChildProcess;
  ready: Promise<number>;
  exited: Promise<void>;
}

type BoundHandle = { fd: number; getsockname(out: { port?: number }): number; close(): void };

async function runParent(mechanism: Mechanism, drain: Drain): Promise<void> {
  const out = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`);
  if (mechanism === 'reuseport') {
    const why = reusePortSupport();
    if (why !== null) {
      out({ unsupported: why });
      return;
    }
  }
  const entry = process.argv[1] as string;
  let bound: BoundHandle | null = null;
  let acceptor: net.Server | null = null;
  let port = 0;
  let accepted = 0;
  let forwarded = 0;
  let sendErrors = 0;

  if (mechanism === 'inherited-fd') {
    const create = (net as unknown as { _createServerHandle: (address: string, port: number, family: number) => BoundHandle | number })._createServerHandle;
    const handle = create('127.0.0.1', 0, 4);
    if (typeof handle === 'number') throw new Error(`bind failed: ${handle}`);
    bound = handle;
    const name: { port?: number } = {};
    handle.getsockname(name);
    port = name.port ?? 0;
  }

  const start = (): Child => {
    const stdio: Array<'ignore' | 'inherit' | 'ipc' | number> = ['ignore', 'ignore', 'inherit', 'ipc'];
    if (bound !== null) stdio.push(bound.fd);
    const child = fork(entry, ['child', mechanism, drain, String(port)], { stdio });
    child.on('error', () => undefined);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const ready = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready within ${CHILD_DEADLINE_MS} ms`)), CHILD_DEADLINE_MS);
      child.on('message', (m: { t?: string; port?: number }) => {
        if (m.t !== 'ready') return;
        clearTimeout(timer);
        resolve(m.port ?? 0);
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`the child exited (${child.exitCode ?? child.signalCode}) before it was ready`));
      });
    });
    return { process: child, ready, exited };
  };

  let serving = start();
  const firstPort = await serving.ready;
  if (mechanism === 'reuseport') port = firstPort;
  if (mechanism === 'ipc-handoff') {
    acceptor = net.createServer({ pauseOnConnect: true }, (socket) => {
      accepted++;
      serving.process.send('socket', socket, (error: Error | null) => {
        if (error === null) forwarded++;
        else {
          sendErrors++;
          socket.destroy();
        }
      });
    });
    await new Promise<void>((resolve) => acceptor?.listen(0, '127.0.0.1', resolve));
    port = (acceptor.address() as net.AddressInfo).port;
  }
  out({ port, node: process.version });

  const swap = async (): Promise<Swap> => {
    const forkMs = nowMs();
    const next = start();
    try {
      await next.ready;
    } catch (error) {
      next.process.kill('SIGKILL');
      return { ok: false, error: (error as Error).message, forkMs, readyMs: nowMs(), oldExitMs: nowMs() };
    }
    const readyMs = nowMs();
    const old = serving;
    serving = next;
    // IPC is ordered: every socket sent to the old child before this arrives before it.
    old.process.send('drain');
    await old.exited;
    return { ok: old.process.exitCode === 0, ...(old.process.exitCode === 0 ? {} : { error: `old child exit ${old.process.exitCode}` }), forkMs, readyMs, oldExitMs: nowMs() };
  };

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const command = line.trim();
    if (command === 'swap') out({ swap: await swap() });
    else if (command === 'stats') out({ accepted, forwarded, sendErrors });
    else if (command === 'quit') break;
  }
  acceptor?.close();
  serving.process.send('drain');
  await serving.exited;
  bound?.close();
  out({ quit: true });
}

const [mode, mechanism, drain = 'polite', port] = process.argv.slice(2);
if (!MECHANISMS.includes(mechanism as Mechanism) || (drain !== 'polite' && drain !== 'close-idle')) {
  process.stderr.write(`usage: handover.js parent|child ${MECHANISMS.join('|')} [polite|close-idle] [port]\n`);
  process.exit(64);
}
if (mode === 'child') runChild(mechanism as Mechanism, Number(port ?? 0), drain);
else if (mode === 'parent') {
  runParent(mechanism as Mechanism, drain).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`handover parent: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
