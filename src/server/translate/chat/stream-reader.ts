/**
 * Upstream Chat Completions SSE → canonical stream events.
 *
 * Tool calls arrive as fragments keyed by `index`: the first usually carries id and name, but
 * some servers split the id or the name over several deltas, or repeat them in every delta. A
 * call is therefore announced only once its name can no longer grow: when its first argument
 * text arrives, or when anything else (another call, text, the finish) shows it is complete.
 */
import type { StreamSink } from '../canonical.ts';
import { errorMessage, errorStatus } from '../error-bodies.ts';
import { isObject, type JsonObject } from '../json-value.ts';
import type { SseEventHandler } from '../sse.ts';
import { synthesizedCallId } from '../tool-ids.ts';
import { readChatFinish, readChatUsage } from './vocabulary.ts';
import { readEventObject } from '../sse.ts';

interface CallState {
  index: number;
  id: string;
  name: string;
  started: boolean;
  ended: boolean;
  /** Argument text that arrived before the name did. */
  pending: string;
}

export class ChatStreamReader implements SseEventHandler {
  private readonly sink: StreamSink;
  private readonly requestId: string;
  private started = false;
  private readonly calls: CallState[] = [];
  private current: CallState | null = null;

  constructor(sink: StreamSink, requestId: string) {
    this.sink = sink;
    this.requestId = requestId;
  }

  event(_type: string | undefined, data: string): void {
    if (data === '[DONE]') {
      this.closeCall();
      this.sink.done();
      return;
    }
    const chunk = readEventObject(data, this.sink);
    if (chunk === null) return;
    if (chunk.error !== undefined && chunk.error !== null) {
      this.sink.error(errorMessage(chunk, 502), errorStatus(chunk, 502));
      return;
    }
    if (!this.started) {
      this.started = true;
      this.sink.start(typeof chunk.id === 'string' ? chunk.id : undefined, typeof chunk.model === 'string' ? chunk.model : undefined);
    }
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    if (isObject(choice)) this.choice(choice);
    if (isObject(chunk.usage)) {
      const usage = readChatUsage(chunk.usage);
      if (usage) this.sink.usage(usage);
    }
  }

  private choice(choice: JsonObject): void {
    const delta = choice.delta;
    if (isObject(delta)) {
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (typeof reasoning === 'string' && reasoning !== '') {
        this.closeCall();
        this.sink.thinking(reasoning);
      }
      if (typeof delta.content === 'string' && delta.content !== '') {
        this.closeCall();
        this.sink.text(delta.content);
      }
      if (typeof delta.refusal === 'string' && delta.refusal !== '') {
        this.closeCall();
        this.sink.text(delta.refusal);
      }
      if (Array.isArray(delta.tool_calls)) {
        for (const call of delta.tool_calls) if (isObject(call)) this.toolDelta(call);
      }
    }
    if (typeof choice.finish_reason === 'string') {
      this.closeCall();
      this.sink.finish(readChatFinish(choice.finish_reason));
    }
  }

  private toolDelta(delta: JsonObject): void {
    const chatIndex = typeof delta.index === 'number' ? delta.index : this.indexWithoutIndex(delta);
    let call = this.calls[chatIndex];
    if (call === undefined) {
      this.closeCall();
      call = { index: this.calls.filter(Boolean).length, id: '', name: '', started: false, ended: false, pending: '' };
      this.calls[chatIndex] = call;
      this.current = call;
    } else if (call !== this.current) {
      // Interleaved calls cannot be expressed by block-structured formats; later fragments of an
      // ended call are dropped rather than attached to the wrong one.
      return;
    }
    if (!call.started) {
      if (typeof delta.id === 'string' && delta.id !== call.id) call.id += delta.id;
      const fn = isObject(delta.function) ? delta.function : undefined;
      if (fn && typeof fn.name === 'string' && fn.name !== call.name) call.name += fn.name;
    }
    const args = isObject(delta.function) ? delta.function.arguments : undefined;
    if (typeof args === 'string' && args !== '') {
      if (call.started) this.sink.toolCallArgs(call.index, args);
      else if (call.name === '') call.pending += args;
      else {
        this.announce(call);
        this.sink.toolCallArgs(call.index, call.pending + args);
        call.pending = '';
      }
    }
  }

  /** Some servers omit `index` and send each call whole: a new id means a new call. */
  private indexWithoutIndex(delta: JsonObject): number {
    const current = this.current;
    if (current !== null && (typeof delta.id !== 'string' || delta.id === current.id)) return this.calls.indexOf(current);
    return this.calls.length;
  }

  private announce(call: CallState): void {
    call.started = true;
    this.sink.toolCallStart(call.index, call.id || synthesizedCallId(this.requestId, call.index), call.name);
  }

  private closeCall(): void {
    const call = this.current;
    if (call === null) return;
    this.current = null;
    if (call.ended) return;
    call.ended = true;
    if (!call.started) {
      this.announce(call);
      if (call.pending !== '') this.sink.toolCallArgs(call.index, call.pending);
    }
    this.sink.toolCallEnd(call.index);
  }
}
