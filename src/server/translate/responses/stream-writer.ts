/**
 * Canonical stream events → OpenAI Responses SSE, numbered by sequence_number in the order the
 * SDK's ResponseStream accepts: response.created and .in_progress; per output item
 * output_item.added, its parts and deltas, their .done events and output_item.done; then
 * response.completed (or .incomplete) carrying the whole response.
 *
 * That final event repeats every item in full, so each open item keeps its deltas (an array,
 * joined once when the item closes) and closed items are kept for the end.
 */
import type { ResponseContext } from '../canonical.ts';
import { StreamWriter, type Write } from '../stream-writer.ts';
import { compact } from '../json-value.ts';
import type { ClientTool } from '../tool-names.ts';
import { callItem, customInput, responseEnvelope } from './writer.ts';
import { REDACTED_MARK, writeResponsesStatus } from './vocabulary.ts';
import { signatureForSlot, type Signer } from '../signatures.ts';

const enum Item {
  None,
  Message,
  Reasoning,
  FunctionCall,
}


export class ResponsesStreamWriter extends StreamWriter {
  private sequence = 0;
  private readonly output: unknown[] = [];
  private item = Item.None;
  private itemId = '';
  private pieces: string[] = [];
  private deltaPrefix = '';
  /** Reasoning: whether a summary part was opened, and the encrypted content (signature) if any. */
  private summaryOpen = false;
  private encrypted: string | undefined;
  /** Function call: canonical index, call id, and the tool as the client declared it. */
  private callIndex = -1;
  private callId = '';
  private callTool: ClientTool = { name: '' };

  constructor(write: Write, ctx: ResponseContext) {
    super('responses', write, ctx);
  }

  protected override nextSequenceNumber(): number {
    return this.sequence++;
  }

  /** One event; `fields` is the JSON of the event's own fields, without braces. */
  private emit(type: string, fields: string): void {
    this.write(`event: ${type}\ndata: {"type":"${type}",${fields},"sequence_number":${this.sequence++}}\n\n`);
  }

  protected writeStart(): void {
    const response = JSON.stringify(responseEnvelope(this.ctx, this.created, 'in_progress', [], null, null));
    this.emit('response.created', `"response":${response}`);
    this.emit('response.in_progress', `"response":${response}`);
  }

  private openItem(kind: Item, prefix: string, item: object): void {
    this.closeItem();
    this.item = kind;
    this.itemId = `${prefix}_${this.ctx.requestId}_${this.output.length}`;
    this.pieces = [];
    this.emit('response.output_item.added', `"output_index":${this.output.length},"item":${JSON.stringify({ id: this.itemId, ...item })}`);
  }

  text(delta: string): void {
    if (this.closed) return;
    this.ensureStarted();
    if (this.item !== Item.Message) {
      this.openItem(Item.Message, 'msg', { type: 'message', status: 'in_progress', role: 'assistant', content: [] });
      const at = `"item_id":${JSON.stringify(this.itemId)},"output_index":${this.output.length}`;
      this.emit('response.content_part.added', `${at},"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}`);
      this.deltaPrefix = `event: response.output_text.delta\ndata: {"type":"response.output_text.delta",${at},"content_index":0,"logprobs":[],"delta":`;
    }
    this.pieces.push(delta);
    this.write(`${this.deltaPrefix}${JSON.stringify(delta)},"sequence_number":${this.sequence++}}\n\n`);
  }

  private openReasoning(): void {
    this.openItem(Item.Reasoning, 'rs', { type: 'reasoning', summary: [] });
    this.summaryOpen = false;
    this.encrypted = undefined;
  }

  thinking(delta: string): void {
    if (this.closed) return;
    this.ensureStarted();
    if (this.item !== Item.Reasoning || this.encrypted !== undefined) this.openReasoning();
    if (!this.summaryOpen) {
      this.summaryOpen = true;
      const at = `"item_id":${JSON.stringify(this.itemId)},"output_index":${this.output.length}`;
      this.emit('response.reasoning_summary_part.added', `${at},"summary_index":0,"part":{"type":"summary_text","text":""}`);
      this.deltaPrefix = `event: response.reasoning_summary_text.delta\ndata: {"type":"response.reasoning_summary_text.delta",${at},"summary_index":0,"delta":`;
    }
    this.pieces.push(delta);
    this.write(`${this.deltaPrefix}${JSON.stringify(delta)},"sequence_number":${this.sequence++}}\n\n`);
  }

  /** The signature closes its reasoning item: it is the last thing a thinking block sends. */
  thinkingSignature(signature: string, signer: Signer): void {
    this.closeReasoningWith(signatureForSlot('openai', signer, signature));
  }

  redactedThinking(data: string): void {
    this.closeReasoningWith(REDACTED_MARK + data);
  }

  private closeReasoningWith(encrypted: string): void {
    if (this.closed) return;
    this.ensureStarted();
    if (this.item !== Item.Reasoning || this.encrypted !== undefined) this.openReasoning();
    this.encrypted = encrypted;
    this.closeItem();
  }

  /**
   * A custom tool's call and a tool search's go to the client whole when they end: the upstream
   * streams them as the JSON arguments of their function form, and only the whole JSON gives
   * their text input (or arguments object).
   */
  toolCallStart(index: number, id: string, name: string): void {
    if (this.closed) return;
    this.ensureStarted();
    const tool = this.clientTool(name);
    if (tool.kind === 'custom') this.openItem(Item.FunctionCall, 'ctc', compact({ type: 'custom_tool_call', status: 'in_progress', call_id: id, name: tool.name, namespace: tool.namespace, input: '' }));
    else if (tool.kind === 'tool_search') this.openItem(Item.FunctionCall, 'tsc', { type: 'tool_search_call', status: 'in_progress', call_id: id, execution: 'client', arguments: {} });
    else this.openItem(Item.FunctionCall, 'fc', compact({ type: 'function_call', status: 'in_progress', arguments: '', call_id: id, name: tool.name, namespace: tool.namespace }));
    this.callIndex = index;
    this.callId = id;
    this.callTool = tool;
    this.deltaPrefix = `event: response.function_call_arguments.delta\ndata: {"type":"response.function_call_arguments.delta","item_id":${JSON.stringify(this.itemId)},"output_index":${this.output.length},"delta":`;
  }

  toolCallArgs(index: number, delta: string): void {
    if (this.closed || this.item !== Item.FunctionCall || this.callIndex !== index || delta === '') return;
    this.pieces.push(delta);
    if (this.callTool.kind === undefined) this.write(`${this.deltaPrefix}${JSON.stringify(delta)},"sequence_number":${this.sequence++}}\n\n`);
  }

  toolCallEnd(index: number): void {
    if (this.closed || this.item !== Item.FunctionCall || this.callIndex !== index) return;
    this.closeItem();
  }

  private closeItem(): void {
    const kind = this.item;
    if (kind === Item.None) return;
    this.item = Item.None;
    const index = this.output.length;
    const at = `"item_id":${JSON.stringify(this.itemId)},"output_index":${index}`;
    const text = this.pieces.join('');
    this.pieces = [];
    let item: object;
    if (kind === Item.Message) {
      const part = { type: 'output_text', annotations: [], logprobs: [], text };
      this.emit('response.output_text.done', `${at},"content_index":0,"logprobs":[],"text":${JSON.stringify(text)}`);
      this.emit('response.content_part.done', `${at},"content_index":0,"part":${JSON.stringify(part)}`);
      item = { id: this.itemId, type: 'message', status: 'completed', role: 'assistant', content: [part] };
    } else if (kind === Item.Reasoning) {
      const summary = this.summaryOpen ? [{ type: 'summary_text', text }] : [];
      if (this.summaryOpen) {
        this.emit('response.reasoning_summary_text.done', `${at},"summary_index":0,"text":${JSON.stringify(text)}`);
        this.emit('response.reasoning_summary_part.done', `${at},"summary_index":0,"part":${JSON.stringify(summary[0])}`);
      }
      item = this.encrypted === undefined ? { id: this.itemId, type: 'reasoning', summary } : { id: this.itemId, type: 'reasoning', summary, encrypted_content: this.encrypted };
    } else if (this.callTool.kind === 'custom') {
      const input = customInput(text);
      this.emit('response.custom_tool_call_input.delta', `${at},"delta":${JSON.stringify(input)}`);
      this.emit('response.custom_tool_call_input.done', `${at},"input":${JSON.stringify(input)}`);
      item = callItem({ id: this.callId, ...this.callTool }, `${this.ctx.requestId}_${index}`, 'completed', text);
    } else if (this.callTool.kind === 'tool_search') {
      item = callItem({ id: this.callId, ...this.callTool }, `${this.ctx.requestId}_${index}`, 'completed', text);
    } else {
      // A call without arguments still has to parse as JSON on the client.
      let args = text;
      if (args === '') {
        args = '{}';
        this.write(`${this.deltaPrefix}"{}","sequence_number":${this.sequence++}}\n\n`);
      }
      this.emit('response.function_call_arguments.done', `${at},"name":${JSON.stringify(this.callTool.name)},"arguments":${JSON.stringify(args)}`);
      item = compact({ id: this.itemId, type: 'function_call', status: 'completed', arguments: args, call_id: this.callId, name: this.callTool.name, namespace: this.callTool.namespace });
    }
    this.emit('response.output_item.done', `"output_index":${index},"item":${JSON.stringify(item)}`);
    this.output.push(item);
  }

  protected writeEnd(): void {
    this.closeItem();
    const finish = this.finishReason ?? 'stop';
    const type = writeResponsesStatus(finish).status === 'incomplete' ? 'response.incomplete' : 'response.completed';
    const response = responseEnvelope(this.ctx, this.created, 'completed', this.output, this.usageSoFar, finish);
    this.emit(type, `"response":${JSON.stringify(response)}`);
  }
}
