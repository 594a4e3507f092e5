/**
 * A tiny HTTP server the official SDKs talk to in place of the real APIs. Each test sets the
 * response it should return (already translated bytes); the SDK then parses it with its own
 * code, which is the point: the SDK is the oracle for what a client can reconstruct.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Canned {
  status: number;
  contentType: string;
  /** Written one by one, as the gateway writes one client event at a time. */
  chunks: string[];
}

export class FakeUpstream {
  private server: Server | null = null;
  private next: Canned | null = null;
  /** The path of the last request, to check which endpoint the SDK called. */
  lastPath = '';

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.lastPath = req.url ?? '';
      req.resume();
      req.on('end', () => {
        const canned = this.next;
        if (canned === null) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end('{"error":{"message":"no canned response"}}');
          return;
        }
        res.writeHead(canned.status, { 'content-type': canned.contentType });
        for (const chunk of canned.chunks) res.write(chunk);
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  respond(canned: Canned): void {
    this.next = canned;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
