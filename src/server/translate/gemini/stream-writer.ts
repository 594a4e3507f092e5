/**
 * Canonical stream events → Gemini SSE: one GenerateContentResponse per text or thought delta.
 * Gemini streams a function call whole (its args are an object, not text), so a call's argument
 * fragments are collected and the call is written when it ends. The last chunk carries the
 * finishReason and usage, as Gemini's does. Events end with \r\n\r\n like Gemini's own.
 */
import type { ResponseContext } from '../canonical.ts';
import { parseArgumentsLeniently } from '../json-value.ts';
import { signatureForSlot, type Signer } from '../signatures.ts';
import { StreamWriter, type Write } from '../stream-writer.ts';
import { idWithoutSignature } from '../tool-ids.ts';
import { writeGeminiFinish, writeGeminiUsage } from './vocabulary.ts';

interface PendingCall {
  id: string;
  name: string;
  signature: string | undefined;
  args: string[];
}

export class GeminiStreamWriter extends StreamWriter {
  private readonly prefix = '{"candidates":[{"content":{"parts":[';
  private readonly suffix: string;
  private readonly tail: string;
  private readonly calls: Array<PendingCall | undefined> = [];

  constructor(write: Write, ctx: ResponseContext) {
    super('gemini', write, ctx);
    this.tail = `"modelVersion":${JSON.stringify(ctx.model)},"responseId":${JSON.stringify(ctx.requestId)}}\r\n\r\n`;
    this.suffix = `],"role":"model"},"index":0}],${this.tail}`;
  }

  private part(json: string): void {
    this.write(`data: ${this.prefix}${json}${this.suffix}`);
  }

  /** Gemini has no start event: its first chunk already carries content. */
  protected writeStart(): void {}

  text(delta: string): void {
    if (this.closed) return;
    this.started = true;
    this.part(`{"text":${JSON.stringify(delta)}}`);
  }

  thinking(delta: string): void {
    if (this.closed) return;
    this.started = true;
    this.part(`{"text":${JSON.stringify(delta)},"thought":true}`);
  }

  thinkingSignature(signature: string, signer: Signer): void {
    if (this.closed) return;
    this.part(`{"text":"","thought":true,"thoughtSignature":${JSON.stringify(signatureForSlot('gemini', signer, signature))}}`);
  }

  redactedThinking(_data: string): void {}

  toolCallStart(index: number, id: string, name: string, signature?: string): void {
    if (this.closed) return;
    this.started = true;
    this.calls[index] = { id, name: this.clientTool(name).name, signature, args: [] };
  }

  toolCallArgs(index: number, delta: string): void {
    this.calls[index]?.args.push(delta);
  }

  toolCallEnd(index: number): void {
    const call = this.calls[index];
    if (this.closed || call === undefined) return;
    this.calls[index] = undefined;
    const functionCall = { id: idWithoutSignature(call.id), name: call.name, args: parseArgumentsLeniently(call.args.join('')) };
    const signature = call.signature === undefined ? '' : `,"thoughtSignature":${JSON.stringify(call.signature)}`;
    this.part(`{"functionCall":${JSON.stringify(functionCall)}${signature}}`);
  }

  protected writeEnd(): void {
    for (let i = 0; i < this.calls.length; i++) if (this.calls[i] !== undefined) this.toolCallEndWhileClosing(i);
    const usage = this.usageSoFar === null ? '' : `"usageMetadata":${JSON.stringify(writeGeminiUsage(this.usageSoFar))},`;
    this.write(`data: {"candidates":[{"finishReason":"${writeGeminiFinish(this.finishReason ?? 'stop')}","index":0}],${usage}${this.tail}`);
  }

  /** writeEnd runs after `closed` is set; calls the upstream never ended are still written. */
  private toolCallEndWhileClosing(index: number): void {
    this.closed = false;
    this.toolCallEnd(index);
    this.closed = true;
  }
}
