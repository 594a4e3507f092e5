/**
 * The launcher's end of the control socket. The socket is created only after the PID file lock
 * is held, so a stale socket file at the path can be unlinked safely: its owner is gone.
 */
import { chmodSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { toErrorReport } from '../shared/errors.ts';
import type { ControlRequest, ControlResponse } from './control-protocol.ts';

export type Reply = (response: ControlResponse) => void;
export type ControlHandler = (request: ControlRequest, reply: Reply) => void;

export class ControlServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(readonly path: string, handler: ControlHandler) {
    this.#server = createServer((socket) => this.#accept(socket, handler));
  }

  static async open(path: string, handler: ControlHandler): Promise<ControlServer> {
    try {
      unlinkSync(path);
    } catch {
      // no stale socket
    }
    const control = new ControlServer(path, handler);
    await new Promise<void>((resolve, reject) => {
      control.#server.once('error', reject);
      control.#server.listen(path, () => {
        control.#server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    return control;
  }

  #accept(socket: Socket, handler: ControlHandler): void {
    this.#sockets.add(socket);
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#sockets.delete(socket));
    let buffered = '';
    const reply: Reply = (response) => {
      if (!socket.destroyed) socket.write(JSON.stringify(response) + '\n');
    };
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > 64 * 1024) return socket.destroy();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let request: ControlRequest;
        try {
          request = JSON.parse(line) as ControlRequest;
        } catch (error) {
          reply({ id: 0, type: 'error', error: toErrorReport(error) });
          continue;
        }
        handler(request, reply);
      }
    });
  }

  /** Stop listening and remove the socket file; open connections get their last answers first. */
  close(): void {
    this.#server.close();
    for (const socket of this.#sockets) socket.end();
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
