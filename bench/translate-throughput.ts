/**
 * Translated-stream throughput, one core: upstream SSE events per second through
 * createStreamTranslator, next to a passthrough baseline that handles the same bytes, in the same
 * chunks, with the same write granularity (one write per event: it only finds event boundaries
 * and forwards each event's text). The gap is the price of translation. Target: ≥ 50,000
 * translated events/s per core.
 *
 *   node --import tsx bench/translate-throughput.ts [--events 2000] [--seconds 1] [--chunk 1400]
 */
import { createStreamTranslator, type WireFormat } from '../src/server/translate/index.ts';

const FORMATS: readonly WireFormat[] = ['chat', 'responses', 'anthropic', 'gemini'];

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const EVENTS = arg('events', 2000);
const SECONDS = arg('seconds', 1);
/** Bytes per pushed chunk: about one TCP segment, so chunks cut events at arbitrary places. */
const CHUNK = arg('chunk', 1400);

const WORDS = ['The', ' quick', ' brown', ' fox', ' jumps', ' over', ' the', ' lazy', ' dog', ' — ', 'naïve', ' café', ' 🚀', ' and', ' then', ' some', '.\n'];

/** A realistic upstream stream: a start, EVENTS text deltas of a token or two, a finish with usage. */
function upstreamStream(format: WireFormat): { bytes: Buffer; events: number } {
  const out: string[] = [];
  const delta = (i: number): string => (WORDS[i % WORDS.length] ?? '') + (i % 3 === 0 ? (WORDS[(i * 7) % WORDS.length] ?? '') : '');
  switch (format) {
    case 'chat': {
      const head = '{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_fc9f1d7035","choices":[{"index":0,"delta":';
      out.push(`data: ${head}{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`);
      for (let i = 0; i < EVENTS; i++) out.push(`data: ${head}{"content":${JSON.stringify(delta(i))}},"logprobs":null,"finish_reason":null}]}\n\n`);
      out.push(`data: ${head}{},"logprobs":null,"finish_reason":"stop"}]}\n\n`);
      out.push('data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":2000,"total_tokens":2020}}\n\n');
      out.push('data: [DONE]\n\n');
      break;
    }
    case 'anthropic':
      out.push('event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":1}}}\n\n');
      out.push('event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n');
      for (let i = 0; i < EVENTS; i++) out.push(`event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":${JSON.stringify(delta(i))}}}\n\n`);
      out.push('event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n');
      out.push('event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2000}}\n\n');
      out.push('event: message_stop\ndata: {"type":"message_stop"}\n\n');
      break;
    case 'gemini':
      for (let i = 0; i < EVENTS; i++) {
        out.push(`data: {"candidates":[{"content":{"parts":[{"text":${JSON.stringify(delta(i))}}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":20,"totalTokenCount":20},"modelVersion":"gemini-2.5-flash","responseId":"mFxGaPDhOsKvz7IPl7nc0QM"}\r\n\r\n`);
      }
      out.push('data: {"candidates":[{"content":{"parts":[{"text":"."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":20,"candidatesTokenCount":2000,"totalTokenCount":2020},"modelVersion":"gemini-2.5-flash","responseId":"mFxGaPDhOsKvz7IPl7nc0QM"}\r\n\r\n');
      break;
    case 'responses': {
      let seq = 0;
      const base = '"id":"resp_67ccd3a9","object":"response","created_at":1741476777,"model":"gpt-4.1","output":[]';
      out.push(`event: response.created\ndata: {"type":"response.created","response":{${base},"status":"in_progress"},"sequence_number":${seq++}}\n\n`);
      out.push(`event: response.output_item.added\ndata: {"type":"response.output_item.added","output_index":0,"item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant","content":[]},"sequence_number":${seq++}}\n\n`);
      for (let i = 0; i < EVENTS; i++) {
        out.push(`event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":${JSON.stringify(delta(i))},"logprobs":[],"sequence_number":${seq++}}\n\n`);
      }
      out.push(`event: response.completed\ndata: {"type":"response.completed","response":{${base},"status":"completed","usage":{"input_tokens":20,"output_tokens":2000,"total_tokens":2020}},"sequence_number":${seq}}\n\n`);
      break;
    }
  }
  return { bytes: Buffer.from(out.join(''), 'utf8'), events: out.length };
}

function chunked(bytes: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += CHUNK) chunks.push(bytes.subarray(at, at + CHUNK));
  return chunks;
}

/** The sink both sides write to: cheap, but it must look at what it gets so nothing is optimized away. */
let sink = 0;
const write = (s: string): void => {
  sink += s.length;
};

/**
 * The baseline: what a pass-through relay that forwards event by event must do at least —
 * decode the bytes and find each event's end — and nothing else.
 */
function passthrough(chunks: Buffer[]): void {
  const decoder = new TextDecoder();
  let pending = '';
  for (const chunk of chunks) {
    const text = pending + decoder.decode(chunk, { stream: true });
    let from = 0;
    for (;;) {
      const lf = text.indexOf('\n\n', from);
      const crlf = text.indexOf('\r\n\r\n', from);
      const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
      if (end < 0) break;
      write(text.slice(from, end));
      from = end;
    }
    pending = text.slice(from);
  }
}

function translated(from: WireFormat, to: WireFormat, chunks: Buffer[]): void {
  const translator = createStreamTranslator(from, to, write, { model: 'client-model', requestId: 'bench', created: 1 });
  for (const chunk of chunks) translator.push(chunk);
  translator.end();
}

/** Streams per second for `run`, measured over SECONDS after a warm-up; the best of three runs. */
function measure(run: () => void): number {
  const deadline = (ms: number): number => performance.now() + ms;
  for (const end = deadline(200); performance.now() < end; ) run();
  let best = 0;
  for (let r = 0; r < 3; r++) {
    let n = 0;
    const start = performance.now();
    const end = start + (SECONDS * 1000) / 3;
    while (performance.now() < end) {
      run();
      n++;
    }
    best = Math.max(best, n / ((performance.now() - start) / 1000));
  }
  return best;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(11);

console.log(`translate-throughput: ${EVENTS} text deltas per stream, ${CHUNK}-byte chunks, Node ${process.version}, one core`);
console.log(`${'upstream → client'.padEnd(24)}${'translated ev/s'.padStart(17)}${'passthrough ev/s'.padStart(18)}${'ratio'.padStart(8)}`);
let worst = Infinity;
for (const from of FORMATS) {
  const { bytes, events } = upstreamStream(from);
  const chunks = chunked(bytes);
  const base = measure(() => passthrough(chunks)) * events;
  for (const to of FORMATS) {
    const rate = measure(() => translated(from, to, chunks)) * events;
    worst = Math.min(worst, rate);
    console.log(`${`${from} → ${to}`.padEnd(24)}${fmt(rate)}      ${fmt(base)}      ${(rate / base).toFixed(2).padStart(6)}`);
  }
}
console.log(`slowest pair: ${fmt(worst).trim()} translated events/s (target ≥ 50,000): ${worst >= 50_000 ? 'met' : 'NOT met'}`);
if (sink < 0) console.log(sink);
