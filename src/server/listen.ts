/**
 * The one place that creates the listening socket (DESIGN §1). It takes an address today and an
 * inherited file descriptor later (socket activation, zero-downtime restart, privileged ports),
 * so that moving socket ownership to the launcher changes this module only.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError } from '../shared/errors.ts';
import type { ListenInfo } from '../shared/ipc.ts';

export type ListenTarget = { host: string; port: number } | { fd: number };

export function listen(server: Server, target: ListenTarget): Promise<ListenInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(listenError(error, target));
    };
    const onListening = (): void => {
      server.off('error', onError);
      const address = server.address() as AddressInfo;
      const host = 'host' in target ? target.host : address.address;
      resolve({ host, port: address.port, url: `http://${formatHost(host)}:${address.port}` });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    if ('fd' in target) server.listen({ fd: target.fd });
    else server.listen({ host: target.host, port: target.port, exclusive: true });
  });
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function listenError(error: NodeJS.ErrnoException, target: ListenTarget): AppError {
  const where = 'fd' in target ? `file descriptor ${target.fd}` : `${formatHost(target.host)}:${target.port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new AppError('E_PORT_IN_USE', `cannot listen on ${where}: the address is already in use (another ai-proxy or another program holds it)`, { cause: error });
    case 'EACCES':
      return new AppError('E_LISTEN', `cannot listen on ${where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`, { cause: error });
    case 'EADDRNOTAVAIL':
      return new AppError('E_LISTEN', `cannot listen on ${where}: the address is not available on this machine`, { cause: error });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new AppError('E_LISTEN', `cannot listen on ${where}: the host name does not resolve`, { cause: error });
    default:
      return new AppError('E_LISTEN', `cannot listen on ${where}: ${error.message}`, { cause: error });
  }
}
