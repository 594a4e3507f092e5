/**
 * The cost of a request from the `pricing` table: USD per million tokens of each kind. Token
 * counts follow OpenAI's convention, which the ledger normalises to: `input` includes the cached
 * tokens and `output` includes the reasoning tokens, so each part is priced once:
 *   (input − cached) × input + cached × cached-price + (output − reasoning) × output + reasoning × reasoning-price.
 * A model without a price has no cost (null): an unknown price is not a free request.
 */
import type { Config } from '../../shared/config/schema.ts';
import { compileGlob, isGlob, type ModelMatcher } from '../routing/glob.ts';

export interface Price {
  readonly input: number;
  readonly output: number;
  readonly cached: number;
  readonly reasoning: number;
}

export interface TokenCounts {
  readonly input: number | null;
  readonly output: number | null;
  readonly cached: number | null;
  readonly reasoning: number | null;
}

const PER_TOKEN = 1 / 1_000_000;

export class PriceTable {
  readonly #exact = new Map<string, Price>();
  readonly #globs: Array<{ match: ModelMatcher; price: Price }> = [];
  /** Lookups by model id, so a glob scan runs once per distinct id (ids are bounded by the model table). */
  readonly #cache = new Map<string, Price | null>();

  constructor(pricing: Config['pricing']) {
    for (const [pattern, p] of Object.entries(pricing)) {
      const price: Price = Object.freeze({ input: p.input * PER_TOKEN, output: p.output * PER_TOKEN, cached: (p.cached ?? p.input) * PER_TOKEN, reasoning: (p.reasoning ?? p.output) * PER_TOKEN });
      if (isGlob(pattern)) this.#globs.push({ match: compileGlob(pattern), price });
      else this.#exact.set(pattern, price);
    }
  }

  get empty(): boolean {
    return this.#exact.size === 0 && this.#globs.length === 0;
  }

  priceOf(model: string): Price | null {
    const cached = this.#cache.get(model);
    if (cached !== undefined) return cached;
    let price = this.#exact.get(model) ?? null;
    if (price === null) for (const g of this.#globs) if (g.match(model)) { price = g.price; break; }
    // Bounded: a glob may let clients name endless ids, so past this the scan simply repeats.
    if (this.#cache.size < 1000) this.#cache.set(model, price);
    return price;
  }

  /** USD for these tokens of the first of `models` that has a price; null when none has or nothing was counted. */
  cost(models: ReadonlyArray<string | null>, tokens: TokenCounts): number | null {
    if (tokens.input === null && tokens.output === null) return null;
    let price: Price | null = null;
    for (const m of models) {
      if (m === null) continue;
      price = this.priceOf(m);
      if (price !== null) break;
    }
    if (price === null) return null;
    const input = tokens.input ?? 0;
    const output = tokens.output ?? 0;
    const cached = Math.min(tokens.cached ?? 0, input);
    const reasoning = Math.min(tokens.reasoning ?? 0, output);
    return (input - cached) * price.input + cached * price.cached + (output - reasoning) * price.output + reasoning * price.reasoning;
  }
}
