/**
 * Reads a request body into one Buffer, refusing more than the configured limit as soon as the
 * limit is crossed (a 32 MB cap must not first buffer 2 GB). Content-Length is checked up front.
 * A body that falls silent for `idleMs` is given up with 408, as nginx's client_body_timeout does:
 * Node's own requestTimeout is one fixed bound for the whole request, set when the server starts.
 */
import type { IncomingMessage } from 'node:http';

export type BodyResult = { ok: true; body: Buffer } | { ok: false; status: 413 | 400 | 408; message: string };

export function readBody(req: IncomingMessage, limit: number, idleMs: number): Promise<BodyResult> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    return Promise.resolve({ ok: false, status: 413, message: `request body of ${declared} bytes exceeds the limit of ${limit} bytes` });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: BodyResult): void => {
      done = true;
      if (idle !== null) clearTimeout(idle);
      resolve(result);
    };
    const idle =
      idleMs > 0
        ? setTimeout(() => {
            if (done) return;
            chunks.length = 0;
            finish({ ok: false, status: 408, message: `the request body stalled: no bytes for ${idleMs / 1000}s` });
          }, idleMs)
        : null;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      idle?.refresh();
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        finish({ ok: false, status: 413, message: `request body exceeds the limit of ${limit} bytes` });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      finish({ ok: true, body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size) });
    });
    req.on('error', () => {
      if (done) return;
      finish({ ok: false, status: 400, message: 'the request body could not be read' });
    });
  });
}
