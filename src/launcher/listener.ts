/**
 * The listening socket, owned by the launcher (DESIGN §1): bound here (as root, before any
 * privilege drop) or adopted from systemd's socket activation, and handed to every server child
 * as an inherited descriptor. The launcher never listens on it itself, so it never accepts a
 * connection: the children call listen(2) on their copy and accept from the one queue the socket
 * has. During a restart two children accept from that queue; when the old one closes its copy the
 * socket stays open in the launcher and the new child, so nothing queued is refused or reset
 * (unlike SO_REUSEPORT, where each socket has a queue of its own that dies with it). See
 * docs/decisions.md, "The launcher owns the listening socket".
 *
 * Node has no public call for a bound socket that is not listening; `net._createServerHandle` is
 * the one its cluster module uses for exactly this (the primary binds, the workers listen).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import * as net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { AppError } from '../shared/errors.ts';

/** The bound TCP handle: Node's internal tcp_wrap, of which only these are used. */
interface TcpHandle {
  readonly fd: number;
  getsockname(out: { address?: string; port?: number; family?: string }): number;
  close(): void;
}

type CreateServerHandle = (address: string | null, port: number | null, addressType: number | null, fd?: number, flags?: number) => TcpHandle | number;

/** systemd's first passed descriptor (sd_listen_fds(3)). */
const SD_LISTEN_FDS_START = 3;

export interface Listener {
  /** The descriptor in this process; each child gets a copy. */
  readonly fd: number;
  /** The address as configured (a name stays a name in URLs), or as systemd bound it. */
  readonly host: string;
  readonly port: number;
  readonly origin: 'bound' | 'systemd';
  /** Where the socket came from, for log lines: `127.0.0.1:8317`, `systemd socket 127.0.0.1:8317`. */
  readonly label: string;
  close(): void;
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function createServerHandle(): CreateServerHandle {
  const internal = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof internal !== 'function') throw new Error('this Node.js has no net._createServerHandle; ai-proxy needs Node 20, 22 or 24');
  return internal;
}

function bindError(where: string, errno: number): AppError {
  const code = getSystemErrorName(errno);
  switch (code) {
    case 'EADDRINUSE':
      return new AppError('E_PORT_IN_USE', `cannot listen on ${where}: the address is already in use (another ai-proxy or another program holds it)`);
    case 'EACCES':
      return new AppError('E_LISTEN', `cannot listen on ${where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`);
    case 'EADDRNOTAVAIL':
      return new AppError('E_LISTEN', `cannot listen on ${where}: the address is not available on this machine`);
    default:
      return new AppError('E_LISTEN', `cannot listen on ${where}: ${code}`);
  }
}

class BoundListener implements Listener {
  readonly fd: number;
  readonly port: number;
  readonly label: string;
  #handle: TcpHandle | null;

  constructor(
    handle: TcpHandle,
    readonly host: string,
    readonly origin: 'bound' | 'systemd',
  ) {
    this.#handle = handle;
    this.fd = handle.fd;
    const name: { address?: string; port?: number } = {};
    handle.getsockname(name);
    this.port = name.port ?? 0;
    this.label = origin === 'systemd' ? `systemd's socket ${formatHostPort(host, this.port)}` : formatHostPort(host, this.port);
  }

  close(): void {
    this.#handle?.close();
    this.#handle = null;
  }
}

/** Binds host:port (a name is resolved first); the children listen on it. Throws AppError. */
export async function bindListener(host: string, port: number): Promise<Listener> {
  const where = formatHostPort(host, port);
  let address = host.replace(/^\[(.*)\]$/, '$1');
  let family = isIP(address);
  if (family === 0) {
    try {
      const found = await lookup(address);
      address = found.address;
      family = found.family;
    } catch {
      throw new AppError('E_LISTEN', `cannot listen on ${where}: the host name does not resolve`);
    }
  }
  const handle = createServerHandle()(address, port, family);
  if (typeof handle === 'number') throw bindError(where, handle);
  // libuv defers a bind's EADDRINUSE to the listen(2) it expects next (uv_tcp_bind); the socket is
  // left unbound, and getsockname(2) is where the launcher, which never listens, hears of it.
  const probe: { port?: number } = {};
  const deferred = handle.getsockname(probe);
  if (deferred !== 0) {
    handle.close();
    throw bindError(where, deferred);
  }
  return new BoundListener(handle, host, 'bound');
}

/**
 * The socket systemd passed (sd_listen_fds(3): LISTEN_PID names this process, LISTEN_FDS counts
 * them from fd 3), or null when there is none for this process. Exactly one stream socket is
 * used; anything else is a unit written for another program.
 */
export function adoptSystemdListener(env: NodeJS.ProcessEnv = process.env): Listener | null {
  if (env.LISTEN_PID === undefined || env.LISTEN_FDS === undefined) return null;
  // Meant for another process (a parent that did not unset them): not ours.
  if (Number(env.LISTEN_PID) !== process.pid) return null;
  const count = Number(env.LISTEN_FDS);
  if (!Number.isInteger(count) || count < 1) return null;
  if (count > 1) throw new AppError('E_LISTEN', `systemd passed ${count} sockets (LISTEN_FDS=${count}); ai-proxy listens on one: give its .socket unit a single ListenStream=`);
  const handle = createServerHandle()(null, null, null, SD_LISTEN_FDS_START);
  if (typeof handle === 'number') throw new AppError('E_LISTEN', `cannot use the socket systemd passed (fd ${SD_LISTEN_FDS_START}): ${getSystemErrorName(handle)}; its .socket unit must have a ListenStream= (TCP)`);
  const name: { address?: string; port?: number } = {};
  if (handle.getsockname(name) !== 0 || name.address === undefined) {
    handle.close();
    throw new AppError('E_LISTEN', `the socket systemd passed (fd ${SD_LISTEN_FDS_START}) is not a TCP socket; its .socket unit must have a ListenStream= with an address and port`);
  }
  return new BoundListener(handle, name.address, 'systemd');
}

/** The variables of socket activation: meant for the launcher only, never for its children. */
export const SOCKET_ACTIVATION_VARIABLES = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const;
