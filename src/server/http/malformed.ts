/**
 * Answers what Node's HTTP parser refused before any handler saw a request (the server's
 * `clientError`): the status Node itself would send (431 for oversized headers, 408 for a request
 * not received within the header timeout, 400 for the rest), plus 414 for a request line that
 * alone overflows, with a body in the client's own error format when the request line names a
 * path (even one cut short), then the connection is closed. Registering a `clientError` listener turns Node's own
 * answers off, so without this every such request got a bare 400.
 */
import type { Duplex } from 'node:stream';
import { clientError, clientFormatOf } from '../errors/client-error.ts';

interface ParserError extends NodeJS.ErrnoException {
  /** The bytes the parser was looking at (Node sets it on HPE_* errors). */
  rawPacket?: Buffer;
}

/** The method and (the start of) the path: enough to pick the client's error format, even from a line cut short. */
const requestStart = /^[A-Z]{1,20} (\/[^\s]*)/;
/** A request line that has not ended within this many bytes is itself the problem (414). */
const LONG_REQUEST_LINE = 8 * 1024;

const reasons: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 414: 'URI Too Long', 431: 'Request Header Fields Too Large' };

export function answerMalformed(error: ParserError, socket: Duplex): void {
  // A peer that reset the connection hears nothing; one whose response already started must not
  // get a second status line inside it.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  const head = error.rawPacket?.subarray(0, LONG_REQUEST_LINE + 64).toString('latin1') ?? '';
  const start = requestStart.exec(head);
  const path = start?.[1] ?? null;
  let status: number;
  let message: string;
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      if (start !== null && !head.slice(0, LONG_REQUEST_LINE).includes('\n')) {
        status = 414;
        message = 'The request line (method and URL) is too long.';
      } else {
        status = 431;
        message = 'The request headers are too large (too many, or too long).';
      }
      break;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      status = 413;
      message = 'The chunk extensions of the request body are too large.';
      break;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      status = 408;
      message = 'The request was not received in time.';
      break;
    default:
      status = 400;
      message = 'The request is not valid HTTP/1.1.';
  }
  const answer = clientError(path === null ? 'openai' : (clientFormatOf(path) ?? 'openai'), status, message);
  const body = Buffer.from(answer.body);
  socket.end(`HTTP/1.1 ${status} ${reasons[status]}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${answer.body}`);
  // The peer may never read: do not keep the socket for it.
  socket.once('finish', () => socket.destroy());
  setTimeout(() => socket.destroy(), 1_000).unref();
}
