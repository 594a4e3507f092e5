/**
 * Reads a request body into one Buffer, refusing more than the configured limit as soon as the
 * limit is crossed (a 32 MB cap must not first buffer 2 GB). Content-Length is checked up front.
 * A body that falls silent for `idleMs` is given up with 408, as nginx's client_body_timeout does:
 * Node's own requestTimeout is one fixed bound for the whole request, set when the server starts.
 *
 * A body with a Content-Encoding (gzip, deflate, br, zstd where Node has it) is decoded while it
 * arrives, and the limit applies to the decoded size: each decoder's output is counted chunk by
 * chunk and the decoders are destroyed as soon as one crosses the limit, so a decompression bomb
 * costs at most the limit plus one decoder chunk (16 KiB), never its inflated size.
 */
import type { IncomingMessage } from 'node:http';
import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';

export type BodyResult =
  | { ok: true; body: Buffer }
  | {
      ok: false;
      status: 413 | 400 | 408 | 415;
      message: string;
      /** Response headers the answer should carry (415: the Accept-Encoding the gateway does take). */
      headers?: Record<string, string>;
      /** For an encoded body: how many bytes its decoders had produced, all stages together, when reading stopped. */
      inflated?: number;
    };

/**
 * zlib's zstd decoder exists from Node 22.15 / 23.8; @types/node 20 does not declare it, so it
 * is looked up at run time (undefined on an older Node, and zstd is then an unknown coding).
 */
type ZstdDecompressFactory = (options?: { params?: Record<number, number> }) => Transform;
const zlibMaybeZstd = zlib as typeof zlib & { createZstdDecompress?: ZstdDecompressFactory; constants: { ZSTD_d_windowLogMax?: number } };
const createZstdDecompress = zlibMaybeZstd.createZstdDecompress;
const ZSTD_D_WINDOW_LOG_MAX = zlibMaybeZstd.constants.ZSTD_d_windowLogMax;

/**
 * RFC 9659: a zstd content coding's window is at most 8 MB (2^23). A frame may declare up to
 * 128 MB and the decoder would allocate that much whatever the output, so larger frames are
 * refused (they are not valid HTTP zstd) rather than letting a few bytes reserve 128 MB.
 */
const ZSTD_WINDOW_LOG_MAX = 23;

/** Codings stacked deeper than this are refused: each stage holds a decoder's state (up to 16 MB for brotli), and real clients send one. */
export const MAX_CODINGS = 3;

const decoders: ReadonlyMap<string, () => Transform> = new Map<string, () => Transform>([
  ['gzip', () => zlib.createGunzip()],
  ['x-gzip', () => zlib.createGunzip()],
  // HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2), which createInflate reads.
  ['deflate', () => zlib.createInflate()],
  ['br', () => zlib.createBrotliDecompress()],
  ...(createZstdDecompress === undefined || ZSTD_D_WINDOW_LOG_MAX === undefined
    ? []
    : ([['zstd', () => createZstdDecompress({ params: { [ZSTD_D_WINDOW_LOG_MAX]: ZSTD_WINDOW_LOG_MAX } })]] as const)),
]);

/** The content codings this Node can decode, as a 415 names them and Accept-Encoding lists them. */
export const SUPPORTED_CODINGS: readonly string[] = [...decoders.keys()];
const acceptEncoding = SUPPORTED_CODINGS.filter((c) => c !== 'x-gzip').join(', ');

export function readBody(req: IncomingMessage, limit: number, idleMs: number): Promise<BodyResult> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    return Promise.resolve({ ok: false, status: 413, message: `request body of ${declared} bytes exceeds the limit of ${limit} bytes` });
  }
  // The usual request has no Content-Encoding: it takes the plain path, with nothing more than this lookup.
  const encoding = req.headers['content-encoding'];
  if (encoding === undefined) return readPlain(req, limit, idleMs);
  const codings = parseCodings(encoding);
  if (codings.length === 0) return readPlain(req, limit, idleMs);
  for (const coding of codings) {
    if (!decoders.has(coding)) {
      req.resume();
      return Promise.resolve(unsupported(`the request body's content coding '${coding}' is not supported`));
    }
  }
  if (codings.length > MAX_CODINGS) {
    req.resume();
    return Promise.resolve(unsupported(`the request body has ${codings.length} content codings stacked; at most ${MAX_CODINGS} are supported`));
  }
  return readEncoded(req, codings, limit, idleMs);
}

function unsupported(what: string): BodyResult {
  return { ok: false, status: 415, message: `${what} (supported: ${SUPPORTED_CODINGS.join(', ')}, identity)`, headers: { 'accept-encoding': acceptEncoding } };
}

/** The codings in the order they were applied, `identity` and empty list elements dropped; names are case-insensitive (RFC 9110 §8.4.1). */
function parseCodings(header: string): string[] {
  const codings: string[] = [];
  for (const part of header.split(',')) {
    const coding = part.trim().toLowerCase();
    if (coding !== '' && coding !== 'identity') codings.push(coding);
  }
  return codings;
}

function readPlain(req: IncomingMessage, limit: number, idleMs: number): Promise<BodyResult> {
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

/**
 * The request's bytes go through one decoder per coding, the last applied first
 * (`Content-Encoding: gzip, br` is undone by brotli, then gunzip). Every stage's output is
 * counted against the limit, not only the last one's: an inner layer can be large too (a
 * million empty gzip members inflate to nothing, yet take 20 MB as the outer layer's output).
 * The bytes on the wire are bounded by the limit as well (compressing never grows a body but by
 * a few bytes of framing).
 */
function readEncoded(req: IncomingMessage, codings: readonly string[], limit: number, idleMs: number): Promise<BodyResult> {
  return new Promise((resolve) => {
    const order = [...codings].reverse();
    const stages = order.map((coding) => (decoders.get(coding) as () => Transform)());
    const first = stages[0] as Transform;
    const chunks: Buffer[] = [];
    let size = 0;
    let wire = 0;
    let inflated = 0;
    let done = false;
    const finish = (result: BodyResult): void => {
      if (done) return;
      done = true;
      if (idle !== null) clearTimeout(idle);
      // Destroying a decoder frees its zlib state and stops it at its current output chunk.
      for (const stage of stages) stage.destroy();
      chunks.length = 0;
      // The rest of the request is read and dropped, as on the plain path (the answer closes the connection).
      if (!result.ok) req.resume();
      resolve(result);
    };
    const fail = (status: 413 | 400 | 408, message: string): void => finish({ ok: false, status, message, inflated });
    const idle =
      idleMs > 0
        ? setTimeout(() => {
            if (!done) fail(408, `the request body stalled: no bytes for ${idleMs / 1000}s`);
          }, idleMs)
        : null;

    stages.forEach((stage, i) => {
      const next = stages[i + 1];
      const coding = order[i] as string;
      let produced = 0;
      stage.on('data', (chunk: Buffer) => {
        if (done) return;
        produced += chunk.length;
        inflated += chunk.length;
        if (produced > limit) {
          fail(413, `request body exceeds the limit of ${limit} bytes once decoded (${codings.join(', ')}); decoding stopped after ${inflated} bytes`);
          return;
        }
        if (next === undefined) {
          chunks.push(chunk);
          size += chunk.length;
        } else if (!next.write(chunk)) {
          stage.pause();
          next.once('drain', () => stage.resume());
        }
      });
      stage.on('end', () => {
        if (done) return;
        if (next !== undefined) next.end();
        else finish({ ok: true, body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size) });
      });
      stage.on('error', (error: Error) => fail(400, `the request body could not be decoded as ${coding}: ${error.message}`));
    });

    req.on('data', (chunk: Buffer) => {
      if (done) return;
      idle?.refresh();
      wire += chunk.length;
      if (wire > limit) {
        fail(413, `request body exceeds the limit of ${limit} bytes`);
        return;
      }
      if (!first.write(chunk)) {
        // The decoder is behind: the socket waits for it, and the silence is the gateway's, not the client's.
        req.pause();
        first.once('drain', () => {
          if (done) return;
          idle?.refresh();
          req.resume();
        });
      }
    });
    req.on('end', () => {
      if (done) return;
      // Every byte is in; what is left is the gateway's own decoding, which no client silence can stall.
      if (idle !== null) clearTimeout(idle);
      first.end();
    });
    req.on('error', () => fail(400, 'the request body could not be read'));
  });
}
