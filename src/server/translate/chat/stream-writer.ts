/**
 * Canonical stream events → Chat Completions chunks, one `data:` event per canonical event.
 * Every chunk shares its envelope, so the envelope is serialized once and each event only
 * stringifies its own delta (the pino trick: precomputed prefixes, nothing else per call).
 */
import type { ResponseContext } from '../canonical.ts';
import type { Signer } from '../signatures.ts';
import { StreamWriter, type Write } from '../stream-writer.ts';
import { writeChatFinish, writeChatUsage } from './vocabulary.ts';

export class ChatStreamWriter extends StreamWriter {
  private readonly prefix: string;
  private readonly usagePrefix: string;
  private finishWritten = false;
  /** Per tool call: whether any argument text was written (a call must end with valid JSON). */
  private readonly argsWritten: boolean[] = [];

  constructor(write: Write, ctx: ResponseContext) {
    super('chat', write, ctx);
    const envelope = `data: {"id":${JSON.stringify(`chatcmpl-${ctx.requestId}`)},"object":"chat.completion.chunk","created":${this.created},"model":${JSON.stringify(ctx.model)},"choices":`;
    this.prefix = `${envelope}[{"index":0,"delta":`;
    this.usagePrefix = `${envelope}[],"usage":`;
  }

  private delta(json: string): void {
    this.write(`${this.prefix}${json},"logprobs":null,"finish_reason":null}]}\n\n`);
  }

  protected writeStart(): void {
    this.delta('{"role":"assistant","content":"","refusal":null}');
  }

  text(delta: string): void {
    if (this.closed) return;
    this.ensureStarted();
    this.delta(`{"content":${JSON.stringify(delta)}}`);
  }

  /** The reasoning_content field DeepSeek and vLLM use; the OpenAI SDK passes it through. */
  thinking(delta: string): void {
    if (this.closed) return;
    this.ensureStarted();
    this.delta(`{"reasoning_content":${JSON.stringify(delta)}}`);
  }

  /** Chat has no place for signatures or redacted reasoning: they are dropped (docs/translation.md). */
  thinkingSignature(_signature: string, _signer: Signer): void {}

  redactedThinking(_data: string): void {}

  toolCallStart(index: number, id: string, name: string): void {
    if (this.closed) return;
    this.ensureStarted();
    this.argsWritten[index] = false;
    this.delta(`{"tool_calls":[{"index":${index},"id":${JSON.stringify(id)},"type":"function","function":{"name":${JSON.stringify(this.clientTool(name).name)},"arguments":""}}]}`);
  }

  toolCallArgs(index: number, delta: string): void {
    if (this.closed || delta === '') return;
    this.argsWritten[index] = true;
    this.delta(`{"tool_calls":[{"index":${index},"function":{"arguments":${JSON.stringify(delta)}}}]}`);
  }

  toolCallEnd(index: number): void {
    if (this.closed) return;
    // A call without arguments (Anthropic streams none for an empty input) must still parse.
    if (this.argsWritten[index] === false) this.toolCallArgs(index, '{}');
  }

  protected override onFinish(): void {
    if (this.finishWritten || this.finishReason === null) return;
    this.finishWritten = true;
    this.write(`${this.prefix}{},"logprobs":null,"finish_reason":"${writeChatFinish(this.finishReason)}"}]}\n\n`);
  }

  protected writeEnd(): void {
    this.onFinish();
    if (this.usageSoFar !== null && this.ctx.includeUsage === true) {
      this.write(`${this.usagePrefix}${JSON.stringify(writeChatUsage(this.usageSoFar))}}\n\n`);
    }
    this.write('data: [DONE]\n\n');
  }
}
