/**
 * Upstream SSE bytes → events. Bytes arrive with arbitrary boundaries: TextDecoder in stream mode
 * holds back a UTF-8 character split across chunks, and eventsource-parser holds back a partial
 * line (including a \r whose \n has not arrived) and joins multi-line `data:` fields.
 */
import { createParser, type EventSourceParser } from 'eventsource-parser';

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
