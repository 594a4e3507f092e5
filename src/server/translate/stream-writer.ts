/**
 * What every client-format stream writer shares: the stream's lifecycle (started, finished,
 * closed), usage accumulation, and the rule that a stream ends either with the format's own
 * terminal events or with an error event, never silently and never as a fake success.
 */
import type { WireFormat } from '../../shared/wire-format.ts';
import type { FinishReason, ResponseContext, StreamSink, Usage } from './canonical.ts';
import { emptyUsage } from './canonical.ts';
import { streamErrorEvent } from './error-bodies.ts';
import type { Signer } from './signatures.ts';
import type { ClientTool } from './tool-names.ts';

export type Write = (bytes: string) => void;

export abstract class StreamWriter implements StreamSink {
  protected readonly format: WireFormat;
  protected readonly write: Write;
  protected readonly ctx: ResponseContext;
  protected readonly created: number;
  protected usageSoFar: Usage | null = null;
  protected finishReason: FinishReason | null = null;
  protected stopSequence: string | undefined;
  protected started = false;
  /** Terminal events or an error were written: nothing more may follow. */
  protected closed = false;
  /** The stream was ended by an error event, not by the format's own terminal events. */
  #failed = false;

  constructor(format: WireFormat, write: Write, ctx: ResponseContext) {
    this.format = format;
    this.write = write;
    this.ctx = ctx;
    this.created = ctx.created ?? Math.floor(Date.now() / 1000);
  }

  collectedUsage(): Usage | null {
    return this.usageSoFar;
  }

  hasFailed(): boolean {
    return this.#failed;
  }

  start(_id: string | undefined, _model: string | undefined): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.writeStart();
  }

  protected ensureStarted(): void {
    if (!this.started) {
      this.started = true;
      this.writeStart();
    }
  }

  usage(usage: Partial<Usage>): void {
    const into = (this.usageSoFar ??= emptyUsage());
    if (usage.inputTokens !== undefined) into.inputTokens = usage.inputTokens;
    if (usage.outputTokens !== undefined) into.outputTokens = usage.outputTokens;
    if (usage.cachedInputTokens !== undefined) into.cachedInputTokens = usage.cachedInputTokens;
    if (usage.cacheWriteTokens !== undefined) into.cacheWriteTokens = usage.cacheWriteTokens;
    if (usage.reasoningTokens !== undefined) into.reasoningTokens = usage.reasoningTokens;
    into.totalTokens = usage.totalTokens ?? into.inputTokens + into.outputTokens;
  }

  finish(reason: FinishReason, stopSequence?: string): void {
    if (this.closed) return;
    this.finishReason = reason;
    this.stopSequence = stopSequence;
    this.ensureStarted();
    this.onFinish();
  }

  done(): void {
    if (this.closed) return;
    // Some upstreams send [DONE] without a finish_reason: the stream did complete, so call it a stop.
    this.finishReason ??= 'stop';
    this.ensureStarted();
    this.closed = true;
    this.writeEnd();
  }

  error(message: string, status: number): void {
    this.fail(message, status);
  }

  /** The upstream closed: a stream that never said why it stopped was cut short, not completed. */
  end(): void {
    if (this.closed) return;
    if (this.finishReason === null) this.fail('The upstream ended the stream before it was complete.');
    else this.done();
  }

  fail(message: string, status = 502): void {
    if (this.closed) return;
    this.closed = true;
    this.#failed = true;
    this.write(streamErrorEvent(this.format, status, message, this.nextSequenceNumber()));
  }

  /** The client's tool behind the upstream's name for it (tool-names.ts). */
  protected clientTool(upstreamName: string): ClientTool {
    return this.ctx.tools === undefined ? { name: upstreamName } : this.ctx.tools.client(upstreamName);
  }

  /** Responses events are numbered; the other formats ignore this. */
  protected nextSequenceNumber(): number {
    return 0;
  }

  abstract text(delta: string): void;
  abstract thinking(delta: string): void;
  abstract thinkingSignature(signature: string, signer: Signer): void;
  abstract redactedThinking(data: string): void;
  abstract toolCallStart(index: number, id: string, name: string, signature?: string): void;
  abstract toolCallArgs(index: number, delta: string): void;
  abstract toolCallEnd(index: number): void;
  protected abstract writeStart(): void;
  /** Hook for formats that say the finish reason as soon as it is known (chat). */
  protected onFinish(): void {}
  protected abstract writeEnd(): void;
}
