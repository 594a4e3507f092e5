/**
 * The token estimate (src/server/translate/token-estimate.ts) against a real tokenizer, on every
 * request the coding agents really sent (test/fixtures/agents): OpenAI's o200k_base, through
 * gpt-tokenizer, a devDependency that never reaches the bundle.
 *
 * The reference is o200k_base's count of exactly the texts the estimate reads (system prompts,
 * message text, tool calls and results, thinking, tool definitions as name + description + JSON
 * schema), so what is measured is the estimate's own error, its fixed per-message and per-tool
 * costs included. A provider's own count adds its framing and uses its own tokenizer; that part
 * cannot be measured without its API (docs/translation.md says so).
 *
 * The bound stated in docs/translation.md: on every recorded request the estimate is at least
 * the reference and at most 25% above it (measured: +0.9% to +22.8%, mean +16.7%). It errs high
 * on purpose: an agent that compacts its context a little early loses less than one that
 * overflows it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { readCanonicalRequest, type CanonicalRequest, type WireFormat } from '../../src/server/translate/index.ts';
import { estimateRequestTokens } from '../../src/server/translate/token-estimate.ts';

const ROOT = fileURLToPath(new URL('../fixtures/agents/', import.meta.url));
const AGENT_FORMAT: Record<string, WireFormat> = { claude: 'anthropic', codex: 'responses', gemini: 'gemini' };

/** The stated bound: never under the reference, at most this much over it. */
const MAX_OVER = 0.25;

function corpus(): Array<{ name: string; request: CanonicalRequest }> {
  const out: Array<{ name: string; request: CanonicalRequest }> = [];
  for (const agent of readdirSync(ROOT).sort()) {
    const format = AGENT_FORMAT[agent];
    if (format === undefined || !statSync(join(ROOT, agent)).isDirectory()) continue;
    for (const scenario of readdirSync(join(ROOT, agent)).sort()) {
      for (const file of readdirSync(join(ROOT, agent, scenario)).filter((f) => /^\d\d-.*\.json$/.test(f)).sort()) {
        const recorded = JSON.parse(readFileSync(join(ROOT, agent, scenario, file), 'utf8')) as { body?: unknown };
        // The WebSocket attempt has no body.
        if (typeof recorded.body !== 'object' || recorded.body === null) continue;
        out.push({ name: `${agent}/${scenario}/${file}`, request: readCanonicalRequest(format, recorded.body) });
      }
    }
  }
  return out;
}

/** The texts the estimate reads, each tokenized on its own. */
function referenceTokens(request: CanonicalRequest): number {
  const texts: string[] = [...request.system];
  for (const message of request.messages) {
    for (const part of message.parts) {
      if (part.type === 'text' || part.type === 'thinking') texts.push(part.text);
      else if (part.type === 'tool_call') texts.push(part.name, part.arguments);
      else if (part.type === 'tool_result') for (const inner of part.content) if (inner.type === 'text') texts.push(inner.text);
    }
  }
  for (const tool of request.tools ?? []) texts.push(tool.name, tool.description ?? '', JSON.stringify(tool.parameters));
  return texts.reduce((sum, text) => sum + countTokens(text), 0);
}

test(`the estimate is within [0, +${MAX_OVER * 100}%] of o200k_base on every recorded agent request`, () => {
  const requests = corpus();
  assert.ok(requests.length >= 20, `the corpus holds the recorded requests (${requests.length})`);
  const errors: number[] = [];
  const report: string[] = [];
  for (const { name, request } of requests) {
    const reference = referenceTokens(request);
    const estimate = estimateRequestTokens(request);
    const error = estimate / reference - 1;
    errors.push(error);
    report.push(`${name}: o200k ${reference}, estimate ${estimate} (${(error * 100).toFixed(1)}%)`);
  }
  const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
  const text = `${report.join('\n')}\n${requests.length} requests, error ${(Math.min(...errors) * 100).toFixed(1)}% to ${(Math.max(...errors) * 100).toFixed(1)}%, mean ${(mean * 100).toFixed(1)}%`;
  for (const [i, error] of errors.entries()) {
    assert.ok(error >= 0, `under the reference: ${report[i]}\n${text}`);
    assert.ok(error <= MAX_OVER, `more than ${MAX_OVER * 100}% over: ${report[i]}\n${text}`);
  }
});

test('text outside ASCII is counted by its bytes, so CJK is not undercounted fourfold', () => {
  // Characters / 4 would give a quarter of these; bytes / 4 lands near the tokenizer.
  for (const text of ['请帮我检查这个函数为什么在处理空数组时会抛出异常，并给出修复建议。我们的测试在持续集成环境中失败了。', 'このリポジトリのテストを実行して、失敗しているものがあれば原因を調べて修正してください。']) {
    const request: CanonicalRequest = { system: [], messages: [{ role: 'user', parts: [{ type: 'text', text }] }], omitted: [] };
    const reference = countTokens(text);
    const estimate = estimateRequestTokens(request);
    assert.ok(estimate >= reference * 0.9 && estimate <= reference * 1.5, `${text.slice(0, 10)}…: o200k ${reference}, estimate ${estimate}`);
  }
});

test('gpt-tokenizer stays out of the program: no module under src/ imports it', () => {
  const src = fileURLToPath(new URL('../../src/', import.meta.url));
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts') && readFileSync(path, 'utf8').includes('gpt-tokenizer')) offenders.push(path);
    }
  };
  walk(src);
  assert.deepEqual(offenders, []);
});
