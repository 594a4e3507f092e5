/**
 * OpenAI chat streams report usage only when the request says `stream_options.include_usage`;
 * the ledger needs it, so the gateway asks for it on every chat stream it passes through, and
 * for a client that did not ask, takes out the extra chunk again (`"choices":[]` with the
 * usage, just before `data: [DONE]`) and the `"usage":null` OpenAI then adds to every other
 * chunk, so that client sees the stream it asked for. The relay reads the usage from the
 * upstream's bytes, before this filter.
 */
import { streamError } from '../errors/client-error.ts';
import type { RelayTransform } from '../proxy/relay.ts';

/** The body to send upstream, asking for usage; null when the client asked already (forward as is). */
export function withIncludeUsage(body: Record<string, unknown>, model: string): Record<string, unknown> | null {
  const options = body.stream_options;
  if (typeof options === 'object' && options !== null && (options as { include_usage?: unknown }).include_usage === true) return null;
  return { ...body, model, stream_options: { ...(typeof options === 'object' && options !== null ? options : {}), include_usage: true } };
}

const BOUNDARY = Buffer.from('\n\n');
const EMPTY_CHOICES = /"choices"\s*:\s*\[\s*\]/;
const NULL_USAGE = /,\s*"usage"\s*:\s*null/g;
/** An event never grows this large; past it the held bytes go out as they are, so memory stays bounded. */
const HOLD_LIMIT = 1024 * 1024;

/**
 * Passes the stream through at event boundaries and drops the usage-only chunk. Bytes after the
 * last complete event wait for the next chunk; nothing else is held back. The common chunk (no
 * empty choices in it) is decoded and written whole, without splitting it into events.
 */
export function stripUsageChunk(write: (text: string) => void): RelayTransform {
  let held: Buffer | null = null;
  return {
    push(chunk: Buffer): void {
      const data = held === null ? chunk : Buffer.concat([held, chunk]);
      const end = data.lastIndexOf(BOUNDARY);
      if (end === -1) {
        held = data.length > HOLD_LIMIT ? (write(data.toString('utf8')), null) : data;
        return;
      }
      let complete = data.toString('utf8', 0, end + 2);
      held = end + 2 < data.length ? data.subarray(end + 2) : null;
      if (complete.includes('"usage"')) complete = complete.replace(NULL_USAGE, '');
      if (!EMPTY_CHOICES.test(complete)) return write(complete);
      let out = '';
      for (const event of complete.split('\n\n')) {
        if (event === '' || (EMPTY_CHOICES.test(event) && event.includes('"usage"'))) continue;
        out += `${event}\n\n`;
      }
      if (out !== '') write(out);
    },
    end(): void {
      if (held !== null) write(held.toString('utf8'));
      held = null;
    },
    // The upstream failed mid-stream: the client's stream ends with an error event, at an event boundary.
    fail(message: string): void {
      write(`${held === null ? '' : '\n\n'}${streamError('openai', 502, message)}`);
      held = null;
    },
    failed: () => false,
  };
}
