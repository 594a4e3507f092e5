/**
 * Canonical stream events → Anthropic Messages SSE, in the order the SDK's MessageStream
 * accepts: message_start, then for each block content_block_start / _delta… / _stop, then
 * message_delta (stop reason, final usage) and message_stop. A block is opened when the first
 * event of a new kind arrives and closed when another kind starts, so nothing waits for the
 * upstream's next event. Delta prefixes are built once per block.
 */
import type { ResponseContext } from '../canonical.ts';
import { emptyUsage } from '../canonical.ts';
import { signatureForSlot, type Signer } from '../signatures.ts';
import { StreamWriter, type Write } from '../stream-writer.ts';
import { writeAnthropicFinish, writeAnthropicUsage } from './vocabulary.ts';

const enum Open {
  None,
  Text,
  Thinking,
  Tool,
}

export class AnthropicStreamWriter extends StreamWriter {
  private open = Open.None;
  private blockIndex = -1;
  private openTool = -1;
  private deltaPrefix = '';

  constructor(write: Write, ctx: ResponseContext) {
    super('anthropic', write, ctx);
  }

  protected writeStart(): void {
    const message = {
      id: `msg_${this.ctx.requestId}`,
      type: 'message',
      role: 'assistant',
      model: this.ctx.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: writeAnthropicUsage(this.usageSoFar ?? emptyUsage()),
    };
    this.write(`event: message_start\ndata: {"type":"message_start","message":${JSON.stringify(message)}}\n\n`);
  }

  private openBlock(kind: Open, block: string, deltaType: string, field: string): void {
    this.closeBlock();
    this.open = kind;
    const index = ++this.blockIndex;
    this.write(`event: content_block_start\ndata: {"type":"content_block_start","index":${index},"content_block":${block}}\n\n`);
    this.deltaPrefix = `event: content_block_delta\ndata: {"type":"content_block_delta","index":${index},"delta":{"type":"${deltaType}","${field}":`;
  }

  private closeBlock(): void {
    if (this.open === Open.None) return;
    this.open = Open.None;
    this.write(`event: content_block_stop\ndata: {"type":"content_block_stop","index":${this.blockIndex}}\n\n`);
  }

  text(delta: string): void {
    if (this.closed) return;
    this.ensureStarted();
    if (this.open !== Open.Text) this.openBlock(Open.Text, '{"type":"text","text":""}', 'text_delta', 'text');
    this.write(`${this.deltaPrefix}${JSON.stringify(delta)}}}\n\n`);
  }

  thinking(delta: string): void {
    if (this.closed) return;
    this.ensureStarted();
    if (this.open !== Open.Thinking) this.openBlock(Open.Thinking, '{"type":"thinking","thinking":"","signature":""}', 'thinking_delta', 'thinking');
    this.write(`${this.deltaPrefix}${JSON.stringify(delta)}}}\n\n`);
  }

  thinkingSignature(signature: string, signer: Signer): void {
    if (this.closed) return;
    this.ensureStarted();
    // Encrypted reasoning without a summary (OpenAI) arrives as a signature alone.
    if (this.open !== Open.Thinking) this.openBlock(Open.Thinking, '{"type":"thinking","thinking":"","signature":""}', 'thinking_delta', 'thinking');
    this.write(`event: content_block_delta\ndata: {"type":"content_block_delta","index":${this.blockIndex},"delta":{"type":"signature_delta","signature":${JSON.stringify(signatureForSlot('anthropic', signer, signature))}}}\n\n`);
  }

  redactedThinking(data: string): void {
    if (this.closed) return;
    this.ensureStarted();
    this.closeBlock();
    const index = ++this.blockIndex;
    this.write(`event: content_block_start\ndata: {"type":"content_block_start","index":${index},"content_block":{"type":"redacted_thinking","data":${JSON.stringify(data)}}}\n\n`);
    this.write(`event: content_block_stop\ndata: {"type":"content_block_stop","index":${index}}\n\n`);
  }

  toolCallStart(index: number, id: string, name: string): void {
    if (this.closed) return;
    this.ensureStarted();
    this.openBlock(Open.Tool, `{"type":"tool_use","id":${JSON.stringify(id)},"name":${JSON.stringify(this.clientTool(name).name)},"input":{}}`, 'input_json_delta', 'partial_json');
    this.openTool = index;
  }

  toolCallArgs(index: number, delta: string): void {
    // Fragments of a call whose block is already closed cannot be placed (interleaved upstream calls).
    if (this.closed || this.open !== Open.Tool || this.openTool !== index) return;
    this.write(`${this.deltaPrefix}${JSON.stringify(delta)}}}\n\n`);
  }

  toolCallEnd(index: number): void {
    if (this.closed || this.open !== Open.Tool || this.openTool !== index) return;
    this.closeBlock();
  }

  protected writeEnd(): void {
    this.closeBlock();
    const reason = writeAnthropicFinish(this.finishReason ?? 'stop', this.stopSequence);
    const delta = { stop_reason: reason, stop_sequence: reason === 'stop_sequence' ? (this.stopSequence ?? null) : null };
    const usage = writeAnthropicUsage(this.usageSoFar ?? emptyUsage());
    this.write(`event: message_delta\ndata: {"type":"message_delta","delta":${JSON.stringify(delta)},"usage":${JSON.stringify(usage)}}\n\n`);
    this.write('event: message_stop\ndata: {"type":"message_stop"}\n\n');
  }
}
