/**
 * Upstream Anthropic Messages SSE → canonical stream events. Anthropic's block structure maps
 * one to one; the only rewriting is the structured-output tool, whose input streams out as text.
 */
import type { StreamSink } from '../canonical.ts';
import { errorMessage } from '../error-bodies.ts';
import { isObject, optString, type JsonObject } from '../json-value.ts';
import type { SseEventHandler } from '../sse.ts';
import { STRUCTURED_OUTPUT_WRAPPED_TOOL, isStructuredOutputTool, structuredOutputText } from '../structured-output.ts';
import { anthropicErrorStatus, readAnthropicFinish, readAnthropicUsage } from './vocabulary.ts';
import { readEventObject } from '../sse.ts';

const enum Kind {
  Ignored,
  Text,
  Thinking,
  Tool,
  /** The structured-output tool: its JSON is the answer text. */
  Json,
  /** The wrapped structured-output tool: buffered, since `{"value": …}` must be unwrapped whole. */
  WrappedJson,
}

export class AnthropicStreamReader implements SseEventHandler {
  private readonly sink: StreamSink;
  private readonly kinds: Kind[] = [];
  private readonly toolIndexes: number[] = [];
  private toolCount = 0;
  private structured = false;
  private wrapped: string[] = [];

  constructor(sink: StreamSink) {
    this.sink = sink;
  }

  event(_type: string | undefined, data: string): void {
    const event = readEventObject(data, this.sink);
    if (event === null) return;
    switch (event.type) {
      case 'content_block_delta':
        this.delta(event);
        break;
      case 'content_block_start':
        this.blockStart(event);
        break;
      case 'content_block_stop':
        this.blockStop(event);
        break;
      case 'message_start': {
        const message = isObject(event.message) ? event.message : {};
        const usage = readAnthropicUsage(message.usage);
        if (usage) this.sink.usage(usage);
        this.sink.start(optString(message.id), optString(message.model));
        break;
      }
      case 'message_delta': {
        const usage = readAnthropicUsage(event.usage);
        if (usage) this.sink.usage(usage);
        const delta = isObject(event.delta) ? event.delta : {};
        if (delta.stop_reason !== undefined && delta.stop_reason !== null) {
          let reason = readAnthropicFinish(delta.stop_reason);
          if (reason === 'tool_calls' && this.structured && this.toolCount === 0) reason = 'stop';
          this.sink.finish(reason, optString(delta.stop_sequence));
        }
        break;
      }
      case 'message_stop':
        this.sink.done();
        break;
      case 'error': {
        const error = isObject(event.error) ? event.error : {};
        this.sink.error(errorMessage(event, 500), anthropicErrorStatus(error.type));
        break;
      }
      default:
        // ping, and event types added after this was written.
        break;
    }
  }

  private blockStart(event: JsonObject): void {
    const index = typeof event.index === 'number' ? event.index : this.kinds.length;
    const block = isObject(event.content_block) ? event.content_block : {};
    let kind = Kind.Ignored;
    switch (block.type) {
      case 'text':
        kind = Kind.Text;
        if (typeof block.text === 'string' && block.text !== '') this.sink.text(block.text);
        break;
      case 'thinking':
        kind = Kind.Thinking;
        if (typeof block.thinking === 'string' && block.thinking !== '') this.sink.thinking(block.thinking);
        break;
      case 'redacted_thinking':
        this.sink.redactedThinking(optString(block.data) ?? '');
        break;
      case 'tool_use': {
        const name = optString(block.name) ?? '';
        if (isStructuredOutputTool(name)) {
          this.structured = true;
          kind = name === STRUCTURED_OUTPUT_WRAPPED_TOOL ? Kind.WrappedJson : Kind.Json;
          this.wrapped = [];
        } else {
          kind = Kind.Tool;
          const toolIndex = this.toolCount++;
          this.toolIndexes[index] = toolIndex;
          this.sink.toolCallStart(toolIndex, optString(block.id) ?? '', name);
        }
        break;
      }
      default:
        // Server tool use and its results have no equivalent in other formats.
        break;
    }
    this.kinds[index] = kind;
  }

  private delta(event: JsonObject): void {
    const index = typeof event.index === 'number' ? event.index : this.kinds.length - 1;
    const delta = event.delta;
    if (!isObject(delta)) return;
    switch (this.kinds[index]) {
      case Kind.Text:
        if (typeof delta.text === 'string') this.sink.text(delta.text);
        break;
      case Kind.Thinking:
        if (typeof delta.thinking === 'string') this.sink.thinking(delta.thinking);
        else if (typeof delta.signature === 'string') this.sink.thinkingSignature(delta.signature, 'anthropic');
        break;
      case Kind.Tool:
        if (typeof delta.partial_json === 'string' && delta.partial_json !== '') this.sink.toolCallArgs(this.toolIndexes[index] ?? 0, delta.partial_json);
        break;
      case Kind.Json:
        if (typeof delta.partial_json === 'string' && delta.partial_json !== '') this.sink.text(delta.partial_json);
        break;
      case Kind.WrappedJson:
        if (typeof delta.partial_json === 'string') this.wrapped.push(delta.partial_json);
        break;
      default:
        break;
    }
  }

  private blockStop(event: JsonObject): void {
    const index = typeof event.index === 'number' ? event.index : this.kinds.length - 1;
    const kind = this.kinds[index];
    if (kind === Kind.Tool) this.sink.toolCallEnd(this.toolIndexes[index] ?? 0);
    else if (kind === Kind.WrappedJson) {
      let input: unknown = {};
      try {
        input = JSON.parse(this.wrapped.join(''));
      } catch {
        // Leave it empty: a truncated structured answer still ends with the finish reason.
      }
      this.wrapped = [];
      this.sink.text(structuredOutputText(STRUCTURED_OUTPUT_WRAPPED_TOOL, input));
    }
  }
}
