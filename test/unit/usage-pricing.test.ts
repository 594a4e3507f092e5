import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PriceTable } from '../../src/server/usage/pricing.ts';
import { extractUsage } from '../../src/server/http/usage.ts';

const close = (actual: number | null, expected: number): void => {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-12, `expected ${expected}, got ${actual}`);
};

describe('pricing', () => {
  const table = new PriceTable({
    'gpt-4o': { input: 2.5, output: 10, cached: 1.25 },
    'gpt-*': { input: 1, output: 2 },
    'o3*': { input: 2, output: 8, reasoning: 4 },
  });

  it('prices uncached input, cached input, output and reasoning per million tokens', () => {
    close(table.cost(['gpt-4o'], { input: 1_000_000, output: 0, cached: 0, reasoning: 0 }), 2.5);
    close(table.cost(['gpt-4o'], { input: 1000, output: 500, cached: 400, reasoning: null }), (600 * 2.5 + 400 * 1.25 + 500 * 10) / 1e6);
    // Reasoning tokens are within the output; their own price applies to them only.
    close(table.cost(['o3-mini'], { input: 100, output: 1000, cached: null, reasoning: 800 }), (100 * 2 + 200 * 8 + 800 * 4) / 1e6);
    // Without a cached price, cached tokens cost the input price.
    close(table.cost(['gpt-4.1'], { input: 1000, output: 0, cached: 500, reasoning: 0 }), 1000 / 1e6);
  });

  it('an exact id wins over a glob; the first model with a price is used', () => {
    close(table.cost(['gpt-4o'], { input: 1e6, output: 0, cached: 0, reasoning: 0 }), 2.5);
    close(table.cost(['unpriced-upstream-id', 'gpt-4o'], { input: 1e6, output: 0, cached: 0, reasoning: 0 }), 2.5);
  });

  it('an unknown model costs null, not zero; so does a request with no counted tokens', () => {
    assert.equal(table.cost(['claude-sonnet-4'], { input: 10, output: 10, cached: 0, reasoning: 0 }), null);
    assert.equal(table.cost([null, null], { input: 10, output: 10, cached: 0, reasoning: 0 }), null);
    assert.equal(table.cost(['gpt-4o'], { input: null, output: null, cached: null, reasoning: null }), null);
    close(table.cost(['gpt-4o'], { input: 0, output: 0, cached: 0, reasoning: 0 }), 0);
  });
});

describe('usage from the end of a response', () => {
  it('OpenAI chat: cached and reasoning tokens from the details', () => {
    const tail = 'data: {"choices":[],"usage":{"prompt_tokens":120,"completion_tokens":50,"prompt_tokens_details":{"cached_tokens":100},"completion_tokens_details":{"reasoning_tokens":30}}}\n\ndata: [DONE]\n\n';
    assert.deepEqual(extractUsage(tail), { input: 120, output: 50, cached: 100, reasoning: 30 });
  });

  it('Anthropic: cache reads and writes are added to the input (counted apart upstream)', () => {
    const head = 'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":200,"cache_creation_input_tokens":5,"output_tokens":1}}}\n\n';
    const tail = 'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":42}}\n\n';
    assert.deepEqual(extractUsage(tail, head), { input: 215, output: 42, cached: 200, reasoning: 0 });
  });

  it('Gemini: thoughts are added to the output and reported as reasoning', () => {
    const tail = '{"usageMetadata":{"promptTokenCount":30,"candidatesTokenCount":12,"cachedContentTokenCount":20,"thoughtsTokenCount":8}}';
    assert.deepEqual(extractUsage(tail), { input: 30, output: 20, cached: 20, reasoning: 8 });
  });
});
