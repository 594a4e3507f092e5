/**
 * Upstream OpenAI Responses SSE → canonical stream events. Items map to canonical blocks:
 * message text, reasoning summaries (their encrypted content becomes the signature) and
 * function calls, which are numbered in the order they are added.
 */
import type { StreamSink } from '../canonical.ts';
import { isObject, optString, type JsonObject } from '../json-value.ts';
import type { SseEventHandler } from '../sse.ts';
import { readResponsesFinish, readResponsesUsage } from './vocabulary.ts';
import { readEventObject } from '../sse.ts';

export class ResponsesStreamReader implements SseEventHandler {
  private readonly sink: StreamSink;
  /** Canonical tool index by output_index. */
  private readonly toolIndexes: number[] = [];
  private toolCount = 0;

  constructor(sink: StreamSink) {
    this.sink = sink;
  }

  event(_type: string | undefined, data: string): void {
    const event = readEventObject(data, this.sink);
    if (event === null) return;
    switch (event.type) {
      case 'response.output_text.delta':
      case 'response.refusal.delta':
        if (typeof event.delta === 'string' && event.delta !== '') this.sink.text(event.delta);
        break;
      case 'response.function_call_arguments.delta':
        if (typeof event.delta === 'string' && event.delta !== '') this.sink.toolCallArgs(this.toolIndex(event), event.delta);
        break;
      case 'response.reasoning_summary_text.delta':
      case 'response.reasoning_text.delta':
        if (typeof event.delta === 'string' && event.delta !== '') this.sink.thinking(event.delta);
        break;
      case 'response.reasoning_summary_part.added':
        // Summary parts are paragraphs of one reasoning block.
        if (typeof event.summary_index === 'number' && event.summary_index > 0) this.sink.thinking('\n\n');
        break;
      case 'response.output_item.added':
        this.itemAdded(event);
        break;
      case 'response.output_item.done':
        this.itemDone(event);
        break;
      case 'response.created': {
        const response = isObject(event.response) ? event.response : {};
        this.sink.start(optString(response.id), optString(response.model));
        break;
      }
      case 'response.completed':
      case 'response.incomplete': {
        const response = isObject(event.response) ? event.response : {};
        const usage = readResponsesUsage(response.usage);
        if (usage) this.sink.usage(usage);
        this.sink.finish(readResponsesFinish(response.status, response.incomplete_details, this.toolCount > 0));
        this.sink.done();
        break;
      }
      case 'response.failed': {
        const response = isObject(event.response) ? event.response : {};
        const error = isObject(response.error) ? response.error : {};
        this.sink.error(optString(error.message) ?? 'The upstream response failed.', 500);
        break;
      }
      case 'error':
        this.sink.error(optString(event.message) ?? 'The upstream reported an error.', 500);
        break;
      default:
        break;
    }
  }

  private toolIndex(event: JsonObject): number {
    return typeof event.output_index === 'number' ? (this.toolIndexes[event.output_index] ?? 0) : 0;
  }

  private itemAdded(event: JsonObject): void {
    const item = event.item;
    if (!isObject(item) || item.type !== 'function_call') return;
    const index = this.toolCount++;
    if (typeof event.output_index === 'number') this.toolIndexes[event.output_index] = index;
    this.sink.toolCallStart(index, optString(item.call_id) ?? '', optString(item.name) ?? '');
    if (typeof item.arguments === 'string' && item.arguments !== '') this.sink.toolCallArgs(index, item.arguments);
  }

  private itemDone(event: JsonObject): void {
    const item = event.item;
    if (!isObject(item)) return;
    if (item.type === 'function_call') this.sink.toolCallEnd(this.toolIndex(event));
    else if (item.type === 'reasoning' && typeof item.encrypted_content === 'string') this.sink.thinkingSignature(item.encrypted_content, 'openai');
  }
}
