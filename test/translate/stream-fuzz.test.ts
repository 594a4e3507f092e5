/**
 * Streaming translators under hostile framing, with a seeded PRNG so a failure reproduces
 * (FUZZ_SEED=<n> to replay, FUZZ_ROUNDS=<n> for more rounds):
 *
 * 1. Split anywhere. The same upstream events, framed with \n, \r\n or bare \r line endings,
 *    with one-line or multi-line `data:` fields, and cut into chunks at random byte offsets
 *    (inside multi-byte UTF-8 characters and between \r and \n included) translate to exactly
 *    the bytes the unsplit stream gives.
 * 2. Nothing waits. Fed one upstream event at a time (each itself cut at random), the client has
 *    received every bit of text and reasoning that event carried before the next event is pushed,
 *    and tool-argument fragments too (Gemini clients excepted: Gemini sends a call whole, so it is
 *    written when the call ends). A translator that buffers to the end fails this.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStreamTranslator, type WireFormat } from '../../src/server/translate/index.ts';
import { CTX, FORMATS, fixtureNames, readBytes } from './fixtures.ts';
import { seededRandom } from '../helpers/random.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const ROUNDS = Number(process.env.FUZZ_ROUNDS ?? 12);


interface SseEvent {
  event?: string;
  data: string;
}

function parseFixture(bytes: Buffer): SseEvent[] {
  return bytes
    .toString('utf8')
    .replace(/\r\n/g, '\n')
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const out: SseEvent = { data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) out.event = line.slice(7);
        else if (line.startsWith('data: ')) out.data = line.slice(6);
      }
      return out;
    });
}

type Eol = '\n' | '\r\n' | '\r';

/** One event's bytes. Multi-line data re-serializes the JSON across lines (JSON allows the \n joins). */
function frame(event: SseEvent, eol: Eol, multiline: boolean): Buffer {
  const lines: string[] = [];
  if (event.event !== undefined) lines.push(`event: ${event.event}`);
  const dataLines = multiline && event.data.startsWith('{') ? JSON.stringify(JSON.parse(event.data), null, 1).split('\n') : [event.data];
  for (const line of dataLines) lines.push(`data: ${line}`);
  return Buffer.from(lines.join(eol) + eol + eol, 'utf8');
}

function splitRandomly(bytes: Buffer, random: () => number, pieces: number): Buffer[] {
  const cuts = new Set<number>();
  for (let i = 0; i < pieces; i++) cuts.add(1 + Math.floor(random() * (bytes.length - 1)));
  // Always cut between some \r and its \n when there is one, the case parsers most often get wrong.
  const cr = bytes.indexOf('\r\n');
  if (cr >= 0) cuts.add(cr + 1);
  const sorted = [...cuts].filter((c) => c > 0 && c < bytes.length).sort((x, y) => x - y);
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of sorted) {
    out.push(bytes.subarray(at, cut));
    at = cut;
  }
  out.push(bytes.subarray(at));
  return out;
}

function translate(from: WireFormat, to: WireFormat, chunks: Buffer[]): string {
  const out: string[] = [];
  const translator = createStreamTranslator(from, to, (s) => out.push(s), CTX);
  for (const chunk of chunks) translator.push(chunk);
  translator.end();
  return out.join('');
}

/** Visible payload, accumulated: what a client shows (text), keeps apart (thinking) and runs (args). */
interface Payload {
  text: string;
  thinking: string;
  args: string;
}

/** The payload one upstream event carries. `state` remembers Anthropic block kinds between events. */
function inputPayload(from: WireFormat, event: SseEvent, state: Map<number, string>, into: Payload): void {
  if (!event.data.startsWith('{')) return;
  const e = JSON.parse(event.data) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  switch (from) {
    case 'chat': {
      const delta = e.choices?.[0]?.delta ?? {};
      into.text += delta.content ?? '';
      into.thinking += delta.reasoning_content ?? '';
      for (const call of delta.tool_calls ?? []) into.args += call.function?.arguments ?? '';
      break;
    }
    case 'anthropic':
      if (e.type === 'content_block_start') state.set(e.index, e.content_block.type === 'tool_use' ? (e.content_block.name === 'json_response' ? 'json' : 'tool') : e.content_block.type);
      if (e.type === 'content_block_delta') {
        const d = e.delta;
        if (d.type === 'text_delta') into.text += d.text;
        else if (d.type === 'thinking_delta') into.thinking += d.thinking;
        else if (d.type === 'input_json_delta') {
          if (state.get(e.index) === 'json') into.text += d.partial_json;
          else into.args += d.partial_json;
        }
      }
      break;
    case 'gemini':
      for (const part of e.candidates?.[0]?.content?.parts ?? []) {
        if (part.functionCall) into.args += JSON.stringify(part.functionCall.args ?? {});
        else if (part.thought) into.thinking += part.text ?? '';
        else into.text += part.text ?? '';
      }
      break;
    case 'responses':
      if (e.type === 'response.output_text.delta') into.text += e.delta;
      else if (e.type === 'response.reasoning_summary_text.delta') into.thinking += e.delta;
      else if (e.type === 'response.function_call_arguments.delta') into.args += e.delta;
      break;
  }
}

/** The payload a client has received so far, read back from the translated bytes. */
function outputPayload(to: WireFormat, bytes: string): Payload {
  const out: Payload = { text: '', thinking: '', args: '' };
  for (const event of parseFixture(Buffer.from(bytes))) {
    if (!event.data.startsWith('{')) continue;
    const e = JSON.parse(event.data) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    switch (to) {
      case 'chat': {
        const delta = e.choices?.[0]?.delta ?? {};
        out.text += delta.content ?? '';
        out.thinking += delta.reasoning_content ?? '';
        for (const call of delta.tool_calls ?? []) out.args += call.function?.arguments ?? '';
        break;
      }
      case 'anthropic':
        if (e.type === 'content_block_delta') {
          if (e.delta.type === 'text_delta') out.text += e.delta.text;
          else if (e.delta.type === 'thinking_delta') out.thinking += e.delta.thinking;
          else if (e.delta.type === 'input_json_delta') out.args += e.delta.partial_json;
        }
        break;
      case 'gemini':
        for (const part of e.candidates?.[0]?.content?.parts ?? []) {
          if (part.functionCall) out.args += JSON.stringify(part.functionCall.args ?? {});
          else if (part.thought) out.thinking += part.text ?? '';
          else out.text += part.text ?? '';
        }
        break;
      case 'responses':
        if (e.type === 'response.output_text.delta') out.text += e.delta;
        else if (e.type === 'response.reasoning_summary_text.delta') out.thinking += e.delta;
        else if (e.type === 'response.function_call_arguments.delta') out.args += e.delta;
        break;
    }
  }
  return out;
}

const VARIANTS: Array<{ eol: Eol; multiline: boolean }> = [
  { eol: '\n', multiline: false },
  { eol: '\r\n', multiline: false },
  { eol: '\r\n', multiline: true },
  { eol: '\n', multiline: true },
  { eol: '\r', multiline: false },
];

describe('stream translators: split anywhere, same output', () => {
  for (const from of FORMATS) {
    for (const name of fixtureNames('streams', from)) {
      const events = parseFixture(readBytes(`streams/${from}/${name}.sse`));
      for (const to of FORMATS) {
        it(`${from} → ${to}: ${name}`, () => {
          const reference = translate(from, to, [Buffer.concat(events.map((e) => frame(e, '\n', false)))]);
          assert.ok(reference.length > 0);
          const random = seededRandom(SEED ^ hash(`${from}/${to}/${name}`));
          for (const variant of VARIANTS) {
            const bytes = Buffer.concat(events.map((e) => frame(e, variant.eol, variant.multiline)));
            const label = `seed ${SEED}, eol ${JSON.stringify(variant.eol)}, multiline ${variant.multiline}`;
            assert.equal(translate(from, to, [bytes]), reference, `whole stream, ${label}`);
            assert.equal(translate(from, to, [...bytes].map((b) => Buffer.from([b]))), reference, `byte by byte, ${label}`);
            for (let round = 0; round < ROUNDS; round++) {
              const chunks = splitRandomly(bytes, random, 1 + Math.floor(random() * 40));
              assert.equal(translate(from, to, chunks), reference, `round ${round}, ${label}, cuts at ${chunks.map((c) => c.length).join(',')}`);
            }
          }
        });
      }
    }
  }
});

describe('stream translators: each event is written before the next one arrives', () => {
  for (const from of FORMATS) {
    for (const name of fixtureNames('streams', from).filter((n) => n !== 'error')) {
      const events = parseFixture(readBytes(`streams/${from}/${name}.sse`));
      for (const to of FORMATS) {
        it(`${from} → ${to}: ${name}`, () => {
          const random = seededRandom(SEED ^ hash(`now/${from}/${to}/${name}`));
          // Bare \r is left out on purpose: a parser cannot know an event ending in \r is over
          // until the next byte shows it is not \r\n.
          for (const eol of ['\n', '\r\n'] as const) {
            const out: string[] = [];
            const translator = createStreamTranslator(from, to, (s) => out.push(s), CTX);
            const sent: Payload = { text: '', thinking: '', args: '' };
            const state = new Map<number, string>();
            for (const [k, event] of events.entries()) {
              const before = out.length;
              for (const chunk of splitRandomly(frame(event, eol, random() < 0.5), random, 1 + Math.floor(random() * 6))) translator.push(chunk);
              const argsBefore = sent.args;
              inputPayload(from, event, state, sent);
              const got = outputPayload(to, out.join(''));
              const where = `after upstream event ${k} (${event.event ?? event.data.slice(0, 60)}), seed ${SEED}, eol ${JSON.stringify(eol)}`;
              assert.equal(got.text, sent.text, `text ${where}`);
              assert.equal(got.thinking, sent.thinking, `reasoning ${where}`);
              if (to !== 'gemini' && sent.args !== argsBefore) assert.ok(out.length > before, `tool arguments written ${where}`);
            }
            translator.end();
            const final = outputPayload(to, out.join(''));
            assert.equal(final.text, sent.text);
            if (to !== 'gemini' && from !== 'gemini') assert.equal(final.args.replace(/\{\}/g, ''), sent.args.replace(/\{\}/g, ''), 'all argument fragments, in order');
          }
        });
      }
    }
  }
});

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
