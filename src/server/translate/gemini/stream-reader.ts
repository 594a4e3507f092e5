/**
 * Upstream Gemini SSE (`streamGenerateContent?alt=sse`) → canonical stream events. Each event is a
 * whole GenerateContentResponse: text and thoughts arrive in pieces, function calls arrive whole,
 * and the chunk with a finishReason is the last, so it also ends the stream.
 */
import type { StreamSink } from '../canonical.ts';
import { errorMessage, errorStatus } from '../error-bodies.ts';
import { isObject, optString, type JsonObject } from '../json-value.ts';
import type { SseEventHandler } from '../sse.ts';
import { idWithSignature, synthesizedCallId } from '../tool-ids.ts';
import { readGeminiFinish, readGeminiUsage } from './vocabulary.ts';
import { readEventObject } from '../sse.ts';

export class GeminiStreamReader implements SseEventHandler {
  private readonly sink: StreamSink;
  private readonly requestId: string;
  private started = false;
  private calls = 0;

  constructor(sink: StreamSink, requestId: string) {
    this.sink = sink;
    this.requestId = requestId;
  }

  event(_type: string | undefined, data: string): void {
    const chunk = readEventObject(data, this.sink);
    if (chunk === null) return;
    if (chunk.error !== undefined) {
      this.sink.error(errorMessage(chunk, 500), errorStatus(chunk, 500));
      return;
    }
    if (!this.started) {
      this.started = true;
      this.sink.start(optString(chunk.responseId), optString(chunk.modelVersion));
    }
    const usage = readGeminiUsage(chunk.usageMetadata);
    if (usage) this.sink.usage(usage);
    const candidate = Array.isArray(chunk.candidates) ? chunk.candidates[0] : undefined;
    if (!isObject(candidate)) {
      if (isObject(chunk.promptFeedback) && chunk.promptFeedback.blockReason !== undefined) {
        this.sink.finish('content_filter');
        this.sink.done();
      }
      return;
    }
    const content = candidate.content;
    if (isObject(content) && Array.isArray(content.parts)) {
      for (const part of content.parts) if (isObject(part)) this.part(part);
    }
    if (typeof candidate.finishReason === 'string') {
      this.sink.finish(readGeminiFinish(candidate.finishReason, this.calls > 0));
      this.sink.done();
    }
  }

  private part(part: JsonObject): void {
    if (typeof part.text === 'string') {
      if (part.thought === true) {
        if (part.text !== '') this.sink.thinking(part.text);
        if (typeof part.thoughtSignature === 'string') this.sink.thinkingSignature(part.thoughtSignature, 'gemini');
      } else if (part.text !== '') this.sink.text(part.text);
      return;
    }
    const call = part.functionCall;
    if (isObject(call)) {
      const index = this.calls++;
      const signature = optString(part.thoughtSignature);
      const id = idWithSignature(optString(call.id) ?? synthesizedCallId(this.requestId, index), signature);
      this.sink.toolCallStart(index, id, optString(call.name) ?? '', signature);
      this.sink.toolCallArgs(index, JSON.stringify(call.args ?? {}));
      this.sink.toolCallEnd(index);
    }
  }
}
