/**
 * Upstream SSE bytes → events. Bytes arrive with arbitrary boundaries: TextDecoder in stream mode
 * holds back a UTF-8 character split across chunks, and eventsource-parser holds back a partial
 * line (including a \r whose \n has not arrived) and joins multi-line `data:` fields.
 */
import { createParser, type EventSourceParser } from 'eventsource-parser';
import type { StreamSink } from './canonical.ts';
import { isObject, type JsonObject } from './json-value.ts';

export interface SseEventHandler {
  event(type: string | undefined, data: string): void;
}

export class SseDecoder {
  private readonly decoder = new TextDecoder('utf-8');
  private readonly parser: EventSourceParser;

  constructor(handler: SseEventHandler) {
    this.parser = createParser({ onEvent: (message) => handler.event(message.event, message.data) });
  }

  push(chunk: Uint8Array): void {
    const text = this.decoder.decode(chunk, { stream: true });
    if (text.length > 0) this.parser.feed(text);
  }

  /** Upstreams sometimes end without the blank line after the last event: dispatch it anyway. */
  end(): void {
    this.parser.feed(`${this.decoder.decode()}\n\n`);
  }
}

/**
 * One event's JSON payload as an object. Not JSON ends the stream with an error (a translator
 * cannot guess what it meant); a JSON value that is not an object carries nothing and is skipped.
 */
export function readEventObject(data: string, sink: StreamSink): JsonObject | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    sink.error('The upstream sent an event that is not JSON.', 502);
    return null;
  }
  return isObject(value) ? value : null;
}
