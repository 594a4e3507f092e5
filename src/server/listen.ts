/**
 * The HTTP server listens on the socket the launcher owns (DESIGN §1): an inherited descriptor,
 * bound by the launcher or passed to it by systemd. The server never binds a public socket itself,
 * so a restart's new child and the old one accept from the same socket, and nothing is refused.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError } from '../shared/errors.ts';
import type { ListenInfo } from '../shared/ipc.ts';
import type { ServerLaunch } from '../shared/launch.ts';

export function listen(server: Server, target: ServerLaunch['listen']): Promise<ListenInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(new AppError('E_LISTEN', `cannot listen on the socket the launcher passed (fd ${target.fd}): ${error.code ?? error.message}`, { cause: error }));
    };
    const onListening = (): void => {
      server.off('error', onError);
      const { port } = server.address() as AddressInfo;
      const host = target.host.includes(':') && !target.host.startsWith('[') ? `[${target.host}]` : target.host;
      resolve({ host: target.host, port, url: `http://${host}:${port}` });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ fd: target.fd });
  });
}
